/* Scale-out on shared storage (flush/refresh.h, node ids in flush/writer.h):
 * node id rules, names with a node id (format and parse-back, incl.
 * compaction suffixes), the writer really putting its node id in its file
 * names, and the catalog refresh on a local storage standing in for a shared
 * bucket: other nodes' files added with tier and time range, own files
 * never added (the writer's later catalog add must still succeed), vanished
 * files forgotten unless young, unpublished entries untouched, a failed
 * listing changing nothing, and the periodic thread. */
#include "test_helpers.h"

#include <unistd.h>

#include "catalog/catalog.h"
#include "flush/refresh.h"
#include "flush/writer.h"
#include "ingest/batch.h"
#include "storage/storage.h"
#include "util/faults.h"
#include "util/log.h"
#include "util/timeutil.h"

#define H14 (INT64_C(1736949600) * US_PER_SEC) /* 2025-01-15T14:00:00Z */

static char g_dir[256];
static struct storage *g_st;
static struct catalog *g_cat;
static int g_n;

static int setup(void **state)
{
    (void)state;
    log_configure(LOG_WARN, LOG_FORMAT_TEXT, 1024);
    snprintf(g_dir, sizeof(g_dir), "/tmp/arc-test-refresh-XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A fresh storage + catalog per test. */
static int open_env(void **state)
{
    (void)state;
    char base[300], cpath[300];
    g_n++;
    snprintf(base, sizeof(base), "%s/data%d", g_dir, g_n);
    snprintf(cpath, sizeof(cpath), "%s/cat%d.db", g_dir, g_n);
    struct errbuf eb = {0};
    if (storage_new_local(base, &g_st, &eb) != RC_OK || catalog_open(cpath, &g_cat, &eb) != RC_OK)
        return -1;
    return 0;
}

static int close_env(void **state)
{
    (void)state;
    catalog_close(&g_cat);
    storage_free(&g_st);
    return 0;
}

static void put(const char *key)
{
    char path[600];
    struct errbuf eb = {0};
    assert_int_equal(storage_staging_path(g_st, key, path, sizeof(path), &eb), RC_OK);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("PAR1 not really PAR1", f);
    fclose(f);
    if (storage_put_file(g_st, path, key, 0, NULL, &eb) != RC_OK)
        fail_msg("put %s: %s", key, eb.msg);
}

static struct refresh_pass_stats pass(const char *node, int64_t grace_ms)
{
    struct refresh_pass_stats ps;
    struct errbuf eb = {0};
    int rc = refresh_once(g_cat, g_st, node, grace_ms, &ps, &eb);
    if (rc != RC_OK)
        fail_msg("refresh_once: rc %d %s", rc, eb.msg);
    return ps;
}

/* The visible files of db/m, sorted by (min_time, key). */
static void list(const char *db, const char *m, struct catalog_file_list *l)
{
    catalog_files_list(g_cat, db, m, INT64_MIN, INT64_MAX, l);
}

static const struct catalog_file *find(const struct catalog_file_list *l, const char *key)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->files[i].key, key))
            return &l->files[i];
    return NULL;
}

/* ---- node ids --------------------------------------------------------------- */

static void test_node_id_rules(void **state)
{
    (void)state;
    assert_true(flush_node_id_is_valid("n1"));
    assert_true(flush_node_id_is_valid("arc-node-2"));
    assert_true(flush_node_id_is_valid("Node7"));
    assert_true(flush_node_id_is_valid("b"));
    assert_true(flush_node_id_is_valid("bx1"));
    assert_true(flush_node_id_is_valid("abcdefghijklmnopqrstuvwxyz012345"));   /* 32 */
    assert_false(flush_node_id_is_valid("abcdefghijklmnopqrstuvwxyz0123456")); /* 33 */
    assert_false(flush_node_id_is_valid(NULL));
    assert_false(flush_node_id_is_valid(""));
    assert_false(flush_node_id_is_valid("1abc"));
    assert_false(flush_node_id_is_valid("-a"));
    assert_false(flush_node_id_is_valid("b12")); /* the compaction batch field */
    assert_false(flush_node_id_is_valid("a_b"));
    assert_false(flush_node_id_is_valid("a.b"));
    assert_false(flush_node_id_is_valid("a b"));
    assert_false(flush_node_id_is_valid("a/b"));

    char id[FLUSH_NODE_ID_MAX + 1];
    struct errbuf eb = {0};
    assert_int_equal(flush_node_id_resolve("Node-7", id, sizeof(id), &eb), RC_OK);
    assert_string_equal(id, "Node-7");
    assert_int_equal(flush_node_id_resolve("bad_id", id, sizeof(id), &eb), RC_INVALID);
    assert_non_null(strstr(eb.msg, "storage.node_id"));
    char small[8];
    assert_int_equal(flush_node_id_resolve("n1", small, sizeof(small), &eb), RC_LIMIT);

    /* Derived from the host name: always valid; equal to the first label
     * when that is already a valid id. */
    assert_int_equal(flush_node_id_resolve("", id, sizeof(id), &eb), RC_OK);
    assert_true(flush_node_id_is_valid(id));
    char host[256] = "";
    assert_int_equal(gethostname(host, sizeof(host)), 0);
    char *dot = strchr(host, '.');
    if (dot)
        *dot = '\0';
    if (flush_node_id_is_valid(host))
        assert_string_equal(id, host);
    char id2[FLUSH_NODE_ID_MAX + 1];
    assert_int_equal(flush_node_id_resolve(NULL, id2, sizeof(id2), &eb), RC_OK);
    assert_string_equal(id, id2); /* stable */
}

static void test_key_names(void **state)
{
    (void)state;
    char a[512], b[512];
    int64_t wns = INT64_C(1736950000123456789);
    size_t n = flush_key_format_node(a, sizeof(a), "db", "m", H14, wns, 1001, "n1");
    assert_string_equal(a, "db/m/2025/01/15/14/m_20250115_140640_123456001_n1.parquet");
    assert_int_equal(n, strlen(a));
    /* Without a node id: exactly the old SPEC §3.2 name. */
    flush_key_format_node(a, sizeof(a), "db", "m", H14, wns, 1001, NULL);
    flush_key_format(b, sizeof(b), "db", "m", H14, wns, 1001);
    assert_string_equal(a, b);
    assert_string_equal(a, "db/m/2025/01/15/14/m_20250115_140640_123456001.parquet");
    flush_key_format_node(a, sizeof(a), "db", "m", H14, wns, 1001, "");
    assert_string_equal(a, b);
    /* Too small for the node id: 0, not a truncated name. */
    assert_int_equal(flush_key_format_node(a, 57, "db", "m", H14, wns, 1001, "n1"), 0);
    assert_int_equal(flush_key_format_node(a, 58, "db", "m", H14, wns, 1001, "n1"), 57);

    char id[FLUSH_NODE_ID_MAX + 1];
    assert_true(flush_key_node_id("db/m/2025/01/15/14/m_20250115_140640_123456001_n1.parquet", id,
                                  sizeof(id)));
    assert_string_equal(id, "n1");
    assert_true(flush_key_node_id(
        "db/m/2025/01/15/14/m_20250115_140640_1736950000123456789_b2_arc-2_compacted.parquet", id,
        sizeof(id)));
    assert_string_equal(id, "arc-2");
    assert_true(flush_key_node_id("db/m/2025/01/15/m_20250115_030000_1_b1_nodeX_daily.parquet", id,
                                  sizeof(id)));
    assert_string_equal(id, "nodeX");
    assert_false(flush_key_node_id("db/m/2025/01/15/14/m_20250115_140640_123456001.parquet", id,
                                   sizeof(id)));
    assert_false(flush_key_node_id("db/m/2025/01/15/14/m_20250115_140640_1_b12_compacted.parquet",
                                   id, sizeof(id)));
    assert_false(flush_key_node_id("db/m/x.parquet", id, sizeof(id)));
    assert_false(flush_key_node_id("db/m/m_20250115_n1.txt", id, sizeof(id)));
    assert_false(flush_key_node_id("db/m/m_20250115_n1.parquet", id, 2)); /* no room */
    assert_false(flush_key_node_id(NULL, id, sizeof(id)));
}

static int col(struct batch *b, const char *name, enum col_type t, bool tag)
{
    enum col_type ex;
    int c = batch_col_get(b, name, strlen(name), t, tag, &ex);
    assert_true(c >= 0);
    return c;
}

static void test_writer_uses_node_id(void **state)
{
    (void)state;
    struct flush_writer *w = NULL;
    struct errbuf eb = {0};
    struct flush_writer_options bad = {.node_id = "no_underscores"};
    assert_int_equal(flush_writer_new(g_st, g_cat, &bad, &w, &eb), RC_INVALID);
    assert_non_null(strstr(eb.msg, "storage.node_id"));
    assert_null(w);

    struct flush_writer_options o = {.node_id = "nodeA", .duckdb_threads = 1};
    errbuf_clear(&eb);
    assert_int_equal(flush_writer_new(g_st, g_cat, &o, &w, &eb), RC_OK);
    struct batch *b = batch_new("db", "cpu");
    int v = col(b, "v", COL_DOUBLE, false);
    for (int i = 0; i < 10; i++) {
        /* Two hours: two files, both named with the node id. */
        size_t r = batch_row_add(b, H14 + (i < 5 ? 0 : US_PER_HOUR) + i);
        batch_set_f64(b, v, r, i);
    }
    batch_seal(b);
    void *tok = NULL;
    struct batch *bs[1] = {b};
    assert_int_equal(flush_writer_write(w, "db", "cpu", bs, 1, &tok, &eb), RC_OK);
    const char *const *keys;
    size_t n = flush_writer_token_files(tok, &keys, NULL);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++) {
        char id[FLUSH_NODE_ID_MAX + 1];
        assert_true(flush_key_node_id(keys[i], id, sizeof(id)));
        assert_string_equal(id, "nodeA");
        size_t kl = strlen(keys[i]);
        assert_true(kl > 14 && !strcmp(keys[i] + kl - 14, "_nodeA.parquet"));
    }
    flush_writer_publish(w, tok);
    batch_unref(&b);
    flush_writer_free(&w);

    /* The refresh of node A skips nothing known; node B's refresh of a
     * fresh catalog would add both (other writer). */
    struct refresh_pass_stats ps = pass("nodeA", 0);
    assert_int_equal(ps.listed, 2);
    assert_int_equal(ps.added + ps.own_skipped + ps.removed, 0);
}

/* ---- refresh ---------------------------------------------------------------- */

#define K_FOREIGN "db/cpu/2025/01/15/14/cpu_20250115_140000_000000001_nodeB.parquet"
#define K_OWN "db/cpu/2025/01/15/14/cpu_20250115_140000_000000002_nodeA.parquet"
#define K_LEGACY "db/cpu/2025/01/15/14/cpu_20250115_140000_000000003.parquet"
#define K_COMPACTED                                                                                \
    "db/cpu/2025/01/15/14/cpu_20250115_150500_1736953500000000000_b1_nodeB_compacted.parquet"
#define K_DAILY "db/cpu/2025/01/15/cpu_20250116_030000_1736996400000000000_b1_nodeC_daily.parquet"
#define K_OTHERDB "other/mem/2025/01/15/14/mem_20250115_140000_000000004_nodeB.parquet"

static void test_refresh_adds_others_skips_own(void **state)
{
    (void)state;
    put(K_FOREIGN);
    put(K_OWN);
    put(K_LEGACY);
    put(K_COMPACTED);
    put(K_DAILY);
    put(K_OTHERDB);
    put("db/cpu/notes.txt");                /* not data */
    put("Bad db/cpu/2025/x_nodeB.parquet"); /* not a database name */

    struct refresh_pass_stats ps = pass("nodeA", 0);
    assert_int_equal(ps.listed, 6);
    assert_int_equal(ps.added, 5);
    assert_int_equal(ps.own_skipped, 1);
    assert_int_equal(ps.removed, 0);

    struct catalog_file_list l;
    list("db", "cpu", &l);
    assert_int_equal(l.n, 4);
    assert_null(find(&l, K_OWN));
    const struct catalog_file *f = find(&l, K_FOREIGN);
    assert_non_null(f);
    assert_int_equal(f->tier, CATALOG_TIER_RAW);
    assert_int_equal(f->min_time_us, H14);
    assert_int_equal(f->max_time_us, H14 + US_PER_HOUR - 1);
    assert_int_equal(f->row_count, CATALOG_ROWS_UNKNOWN);
    assert_int_equal(f->bytes, strlen("PAR1 not really PAR1"));
    assert_non_null(find(&l, K_LEGACY)); /* no node id: someone else's */
    f = find(&l, K_COMPACTED);
    assert_non_null(f);
    assert_int_equal(f->tier, CATALOG_TIER_COMPACTED);
    f = find(&l, K_DAILY);
    assert_non_null(f);
    assert_int_equal(f->tier, CATALOG_TIER_DAILY);
    assert_int_equal(f->min_time_us, H14 - 14 * US_PER_HOUR);
    assert_int_equal(f->max_time_us, H14 + 10 * US_PER_HOUR - 1);
    catalog_file_list_free(&l);
    list("other", "mem", &l);
    assert_int_equal(l.n, 1);
    catalog_file_list_free(&l);

    /* Idempotent. */
    ps = pass("nodeA", 0);
    assert_int_equal(ps.listed, 6);
    assert_int_equal(ps.added + ps.removed, 0);
    assert_int_equal(ps.own_skipped, 1);

    /* The writer of node A adds its own (already uploaded) file afterwards:
     * no RC_EXISTS, because the refresh left it alone. */
    struct catalog_file_entry e = {.key = K_OWN,
                                   .db = "db",
                                   .measurement = "cpu",
                                   .min_time_us = H14,
                                   .max_time_us = H14 + 5,
                                   .row_count = 6,
                                   .bytes = 20};
    uint64_t id = 0;
    struct errbuf eb = {0};
    assert_int_equal(catalog_files_add(g_cat, &e, 1, &id, &eb), RC_OK);
    catalog_files_publish(g_cat, &id, 1);
    ps = pass("nodeA", 0);
    assert_int_equal(ps.added + ps.removed + ps.own_skipped, 0);
    list("db", "cpu", &l);
    assert_int_equal(l.n, 5);
    catalog_file_list_free(&l);

    /* Seen from node B, its own files are the ones skipped: a fresh catalog
     * of node B gets everything but K_FOREIGN, K_COMPACTED, K_OTHERDB. */
    catalog_close(&g_cat);
    char cpath[300];
    snprintf(cpath, sizeof(cpath), "%s/catB%d.db", g_dir, g_n);
    assert_int_equal(catalog_open(cpath, &g_cat, &eb), RC_OK);
    ps = pass("nodeB", 0);
    assert_int_equal(ps.added, 3);
    assert_int_equal(ps.own_skipped, 3);
}

static void test_refresh_forgets_gone(void **state)
{
    (void)state;
    put(K_FOREIGN);
    put(K_LEGACY);
    struct refresh_pass_stats ps = pass("nodeA", 0);
    assert_int_equal(ps.added, 2);
    struct errbuf eb = {0};

    /* Node A's own entries, not in storage: one old, one young, one old
     * but unpublished (a flush in progress: never visible, never touched). */
    int64_t now = time_now_us();
    struct catalog_file_entry es[3] = {
        {.key = "db/cpu/2025/01/15/14/cpu_a_old_nodeA.parquet",
         .db = "db",
         .measurement = "cpu",
         .min_time_us = H14,
         .max_time_us = H14,
         .row_count = 1,
         .bytes = 1,
         .created_at_us = now - 3600 * US_PER_SEC},
        {.key = "db/cpu/2025/01/15/14/cpu_b_young_nodeA.parquet",
         .db = "db",
         .measurement = "cpu",
         .min_time_us = H14,
         .max_time_us = H14,
         .row_count = 1,
         .bytes = 1,
         .created_at_us = now},
        {.key = "db/cpu/2025/01/15/14/cpu_c_unpub_nodeA.parquet",
         .db = "db",
         .measurement = "cpu",
         .min_time_us = H14,
         .max_time_us = H14,
         .row_count = 1,
         .bytes = 1,
         .created_at_us = now - 3600 * US_PER_SEC},
    };
    uint64_t ids[3];
    assert_int_equal(catalog_files_add(g_cat, es, 3, ids, &eb), RC_OK);
    catalog_files_publish(g_cat, ids, 2);

    ps = pass("nodeA", 0); /* default grace: 60 s */
    assert_int_equal(ps.removed, 1);
    assert_int_equal(ps.kept_young, 1);
    struct catalog_file_list l;
    list("db", "cpu", &l);
    assert_int_equal(l.n, 3);
    assert_null(find(&l, es[0].key));
    assert_non_null(find(&l, es[1].key));
    catalog_file_list_free(&l);

    /* Another node deletes K_FOREIGN (its mtime is now: young). */
    struct storage_object_info info;
    assert_int_equal(storage_head(g_st, K_FOREIGN, &info, &eb), RC_OK);
    assert_int_equal(storage_delete(g_st, K_FOREIGN, &eb), RC_OK);
    ps = pass("nodeA", 0);
    assert_int_equal(ps.removed, 0);
    assert_int_equal(ps.kept_young, 2);
    usleep(20 * 1000);
    ps = pass("nodeA", 10); /* 10 ms grace: both are old enough now */
    assert_int_equal(ps.removed, 2);
    list("db", "cpu", &l);
    assert_int_equal(l.n, 1);
    assert_non_null(find(&l, K_LEGACY));
    catalog_file_list_free(&l);

    /* The unpublished entry survived every pass. */
    catalog_files_publish(g_cat, &ids[2], 1);
    list("db", "cpu", &l);
    assert_int_equal(l.n, 2);
    assert_non_null(find(&l, es[2].key));
    catalog_file_list_free(&l);
}

static void test_refresh_listing_failure(void **state)
{
    (void)state;
    put(K_FOREIGN);
    struct refresh_pass_stats ps = pass("nodeA", 1);
    assert_int_equal(ps.added, 1);
    put(K_LEGACY);
    struct errbuf eb = {0};
    setenv("ARC_TEST_FAULTS", "storage_fail", 1);
    faults_reload();
    /* Nothing listed: nothing may be forgotten (K_FOREIGN looks "gone")
     * and nothing added. */
    assert_int_equal(refresh_once(g_cat, g_st, "nodeA", 1, &ps, &eb), RC_IO);
    unsetenv("ARC_TEST_FAULTS");
    faults_reload();
    assert_int_equal(ps.added + ps.removed, 0);
    struct catalog_file_list l;
    list("db", "cpu", &l);
    assert_int_equal(l.n, 1);
    assert_non_null(find(&l, K_FOREIGN));
    catalog_file_list_free(&l);
    errbuf_clear(&eb);
    assert_int_equal(refresh_once(g_cat, g_st, "bad_id", 0, &ps, &eb), RC_INVALID);
    assert_int_equal(refresh_once(g_cat, g_st, NULL, 0, &ps, &eb), RC_INVALID);
    ps = pass("nodeA", 1);
    assert_int_equal(ps.added, 1);
}

static void test_refresh_thread(void **state)
{
    (void)state;
    struct refresh *r = NULL;
    struct errbuf eb = {0};
    struct refresh_options bad[] = {
        {.interval_ms = 0, .node_id = "nodeA"},
        {.interval_ms = 100, .node_id = ""},
        {.interval_ms = 100, .node_id = "b7"},
    };
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(refresh_start(g_cat, g_st, &bad[i], &r, &eb), RC_INVALID);
    assert_null(r);

    struct refresh_options o = {.interval_ms = 100, .node_id = "nodeA"};
    assert_int_equal(refresh_start(g_cat, g_st, &o, &r, &eb), RC_OK);
    put(K_FOREIGN);
    put(K_OWN);
    struct catalog_file_list l = {0};
    int64_t end = time_mono_ms() + 5000;
    for (;;) {
        list("db", "cpu", &l);
        size_t n = l.n;
        catalog_file_list_free(&l);
        if (n >= 1 || time_mono_ms() > end)
            break;
        usleep(20 * 1000);
    }
    list("db", "cpu", &l);
    assert_int_equal(l.n, 1);
    assert_non_null(find(&l, K_FOREIGN));
    catalog_file_list_free(&l);
    usleep(250 * 1000);
    struct refresh_stats s;
    refresh_get_stats(r, &s);
    assert_true(s.runs >= 2);
    assert_int_equal(s.failures, 0);
    assert_int_equal(s.added_total, 1);
    assert_true(s.last_run_us > 0);
    int64_t t0 = time_mono_ms();
    refresh_stop(&r);
    assert_null(r);
    assert_true(time_mono_ms() - t0 < 1000);
    refresh_stop(&r); /* accepts NULL */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_node_id_rules),
        cmocka_unit_test(test_key_names),
        cmocka_unit_test_setup_teardown(test_writer_uses_node_id, open_env, close_env),
        cmocka_unit_test_setup_teardown(test_refresh_adds_others_skips_own, open_env, close_env),
        cmocka_unit_test_setup_teardown(test_refresh_forgets_gone, open_env, close_env),
        cmocka_unit_test_setup_teardown(test_refresh_listing_failure, open_env, close_env),
        cmocka_unit_test_setup_teardown(test_refresh_thread, open_env, close_env),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
