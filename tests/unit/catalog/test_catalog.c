/* Unit tests for catalog/: schema registry (conflicts, races, persistence),
 * file manifest (add/publish visibility, time-range listing, remove,
 * statistics), crash behaviour (forked child exits without closing),
 * reconcile against a fake storage listing. */
#include "test_helpers.h"

#include <pthread.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "util/mem.h"
#include "util/timeutil.h"

static char g_dir[256];
static char g_path[300];

static int setup(void **state)
{
    snprintf(g_dir, sizeof(g_dir), "/tmp/arc-test-catalog-XXXXXX");
    if (!mkdtemp(g_dir))
        return -1;
    /* Parent "data" directory does not exist: catalog_open creates it. */
    snprintf(g_path, sizeof(g_path), "%s/data/catalog.db", g_dir);
    return 0;
}

static int teardown(void **state)
{
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static struct catalog *open_cat(void)
{
    struct catalog *cat = NULL;
    struct errbuf eb = {0};
    int rc = catalog_open(g_path, &cat, &eb);
    if (rc != RC_OK)
        fail_msg("catalog_open: %s", eb.msg);
    return cat;
}

static int check(struct catalog *cat, const char *db, const char *m, const char *col,
                 enum col_type t, enum col_type *existing)
{
    struct schema_checker sc = catalog_schema_checker(cat);
    return sc.check(sc.ctx, db, m, col, strlen(col), t, existing);
}

static struct catalog_file_entry entry(const char *key, const char *db, const char *m, int64_t lo,
                                       int64_t hi, int64_t rows)
{
    return (struct catalog_file_entry){.key = key,
                                       .db = db,
                                       .measurement = m,
                                       .min_time_us = lo,
                                       .max_time_us = hi,
                                       .row_count = rows,
                                       .bytes = 1000,
                                       .tier = CATALOG_TIER_RAW};
}

static void test_schema_conflicts(void **state)
{
    struct catalog *cat = open_cat();
    enum col_type ex = 0;
    assert_int_equal(check(cat, "db", "cpu", "usage", COL_DOUBLE, &ex), RC_OK);
    assert_int_equal(check(cat, "db", "cpu", "usage", COL_DOUBLE, &ex), RC_OK);
    assert_int_equal(check(cat, "db", "cpu", "usage", COL_INT64, &ex), RC_INVALID);
    assert_int_equal(ex, COL_DOUBLE);
    /* Same column name in another measurement / database is independent. */
    assert_int_equal(check(cat, "db", "mem", "usage", COL_INT64, &ex), RC_OK);
    assert_int_equal(check(cat, "db2", "cpu", "usage", COL_STRING, &ex), RC_OK);
    /* Names that could collide if the key were naively concatenated. */
    assert_int_equal(check(cat, "db", "cpuu", "sage", COL_BOOL, &ex), RC_OK);
    assert_int_equal(check(cat, "db", "cpu", "usage", COL_BOOL, &ex), RC_INVALID);
    assert_int_equal(ex, COL_DOUBLE);
    /* col_len is honoured: "hostXYZ" with len 4 is "host". */
    struct schema_checker sc = catalog_schema_checker(cat);
    assert_int_equal(sc.check(sc.ctx, "db", "cpu", "hostXYZ", 4, COL_STRING, &ex), RC_OK);
    assert_int_equal(check(cat, "db", "cpu", "host", COL_UINT64, &ex), RC_INVALID);
    assert_int_equal(ex, COL_STRING);
    /* Unicode and quotes. */
    const char *odd = "t\xc3\xa9mp \"quoted\" 'x'";
    assert_int_equal(check(cat, "db", "cpu", odd, COL_UINT64, &ex), RC_OK);

    /* Case variants of an existing column conflict (DuckDB identifiers are
     * case-insensitive), reporting the existing column's type. */
    assert_int_equal(check(cat, "db", "cpu", "HOST", COL_STRING, &ex), RC_INVALID);
    assert_int_equal(ex, COL_STRING);
    assert_int_equal(check(cat, "db", "cpu", "Usage", COL_DOUBLE, &ex), RC_INVALID);
    assert_int_equal(ex, COL_DOUBLE);
    assert_int_equal(check(cat, "db", "cpu", "Time", COL_DOUBLE, &ex), RC_INVALID);
    assert_int_equal(ex, COL_INT64);
    assert_int_equal(check(cat, "db", "cpu", "time", COL_INT64, &ex), RC_OK); /* not recorded */
    /* ...but only within one measurement, and non-ASCII letters are not folded. */
    assert_int_equal(check(cat, "db", "mem", "HOST", COL_STRING, &ex), RC_OK);
    assert_int_equal(check(cat, "db", "cpu", "\xc3\x89t\xc3\xa9", COL_STRING, &ex), RC_OK);
    assert_int_equal(check(cat, "db", "cpu", "\xc3\xa9t\xc3\xa9", COL_STRING, &ex), RC_OK);

    struct catalog_column *cols = NULL;
    size_t n = 0;
    catalog_schema_get(cat, "db", "cpu", &cols, &n);
    assert_int_equal(n, 5);
    assert_string_equal(cols[0].name, "host");
    assert_int_equal(cols[0].type, COL_STRING);
    assert_string_equal(cols[1].name, odd); /* 't' (0x74) < 'u' (0x75) */
    assert_int_equal(cols[1].type, COL_UINT64);
    assert_string_equal(cols[2].name, "usage");
    assert_int_equal(cols[2].type, COL_DOUBLE);
    assert_string_equal(cols[3].name, "\xc3\x89t\xc3\xa9"); /* 0xC3 0x89 < 0xC3 0xA9 */
    assert_string_equal(cols[4].name, "\xc3\xa9t\xc3\xa9");
    catalog_columns_free(&cols);
    assert_null(cols);
    catalog_schema_get(cat, "db", "nothing", &cols, &n);
    assert_int_equal(n, 0);
    assert_null(cols);
    catalog_close(&cat);
    assert_null(cat);
}

struct race {
    struct catalog *cat;
    enum col_type type;
    int rc;
    enum col_type existing;
    pthread_barrier_t *bar;
};

static void *race_thread(void *arg)
{
    struct race *r = arg;
    pthread_barrier_wait(r->bar);
    for (int i = 0; i < 200; i++) {
        char col[32];
        snprintf(col, sizeof(col), "c%d", i);
        enum col_type ex = 0;
        int rc = check(r->cat, "db", "race", col, r->type, &ex);
        if (i == 0) {
            r->rc = rc;
            r->existing = ex;
        }
    }
    return NULL;
}

static void test_schema_race_first_writer_wins(void **state)
{
    struct catalog *cat = open_cat();
    enum { N = 4 };
    pthread_t th[N];
    struct race r[N];
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, N);
    enum col_type types[N] = {COL_DOUBLE, COL_INT64, COL_STRING, COL_BOOL};
    for (int i = 0; i < N; i++) {
        r[i] = (struct race){cat, types[i], -1, 0, &bar};
        pthread_create(&th[i], NULL, race_thread, &r[i]);
    }
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&bar);
    /* Exactly one thread won column c0, every loser saw the winner's type. */
    struct catalog_column *cols = NULL;
    size_t n = 0;
    catalog_schema_get(cat, "db", "race", &cols, &n);
    assert_int_equal(n, 200);
    assert_string_equal(cols[0].name, "c0");
    enum col_type winner = cols[0].type;
    catalog_columns_free(&cols);
    int oks = 0;
    for (int i = 0; i < N; i++) {
        if (r[i].rc == RC_OK) {
            oks++;
            assert_int_equal(r[i].type, winner);
        } else {
            assert_int_equal(r[i].rc, RC_INVALID);
            assert_int_equal(r[i].existing, winner);
        }
    }
    assert_int_equal(oks, 1);
    catalog_close(&cat);
    /* All 200 columns persisted by close. */
    cat = open_cat();
    catalog_schema_get(cat, "db", "race", &cols, &n);
    assert_int_equal(n, 200);
    assert_int_equal(cols[0].type, winner);
    catalog_columns_free(&cols);
    catalog_close(&cat);
}

static void test_persistence_and_mode(void **state)
{
    struct catalog *cat = open_cat();
    enum col_type ex;
    assert_int_equal(check(cat, "db", "cpu", "usage", COL_DOUBLE, &ex), RC_OK);
    assert_int_equal(check(cat, "db", "cpu", "n", COL_UINT64, &ex), RC_OK);
    struct catalog_file_entry e[2] = {
        entry("db/cpu/2025/01/15/14/a.parquet", "db", "cpu", 100, 200, 10),
        entry("db/cpu/2025/01/15/15/b.parquet", "db", "cpu", 300, 400, 20),
    };
    uint64_t ids[2];
    struct errbuf eb = {0};
    assert_int_equal(catalog_files_add(cat, e, 2, ids, &eb), RC_OK);
    assert_true(ids[0] > 0 && ids[1] > ids[0]);
    catalog_files_publish(cat, ids, 2);
    catalog_close(&cat);

    struct stat sb;
    assert_int_equal(stat(g_path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);

    cat = open_cat();
    assert_int_equal(check(cat, "db", "cpu", "usage", COL_INT64, &ex), RC_INVALID);
    assert_int_equal(ex, COL_DOUBLE);
    assert_int_equal(check(cat, "db", "cpu", "USAGE", COL_DOUBLE, &ex), RC_INVALID);
    assert_int_equal(check(cat, "db", "cpu", "n", COL_UINT64, &ex), RC_OK);
    struct catalog_file_list l;
    catalog_files_list(cat, "db", "cpu", INT64_MIN, INT64_MAX, &l);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.files[0].key, "db/cpu/2025/01/15/14/a.parquet");
    assert_int_equal(l.files[0].id, ids[0]);
    assert_int_equal(l.files[0].min_time_us, 100);
    assert_int_equal(l.files[0].max_time_us, 200);
    assert_int_equal(l.files[0].row_count, 10);
    assert_int_equal(l.files[0].bytes, 1000);
    assert_true(l.files[0].created_at_us > 0);
    assert_int_equal(l.files[0].tier, CATALOG_TIER_RAW);
    catalog_file_list_free(&l);
    /* Ids are never reused after a remove and reopen. */
    assert_int_equal(catalog_files_remove(cat, &ids[1], 1, &eb), RC_OK);
    catalog_close(&cat);
    cat = open_cat();
    struct catalog_file_entry e3 = entry("db/cpu/x.parquet", "db", "cpu", 1, 2, 1);
    uint64_t id3;
    assert_int_equal(catalog_files_add(cat, &e3, 1, &id3, &eb), RC_OK);
    assert_true(id3 > ids[1]);
    catalog_close(&cat);
}

static void test_publish_visibility(void **state)
{
    struct catalog *cat = open_cat();
    struct catalog_file_entry e = entry("db/cpu/2025/01/15/14/a.parquet", "db", "cpu", 10, 20, 5);
    uint64_t id = 0;
    struct errbuf eb = {0};
    assert_int_equal(catalog_files_add(cat, &e, 1, &id, &eb), RC_OK);
    struct catalog_file_list l;
    catalog_files_list(cat, "db", "cpu", INT64_MIN, INT64_MAX, &l);
    assert_int_equal(l.n, 0);
    assert_null(l.files);
    catalog_file_list_free(&l);
    char(*dbs)[DB_NAME_MAX + 1] = NULL;
    size_t ndb = 9;
    catalog_databases(cat, &dbs, &ndb);
    assert_int_equal(ndb, 0);
    xfree(dbs);

    catalog_files_publish(cat, &id, 1);
    catalog_files_publish(cat, &id, 1); /* twice: harmless */
    uint64_t bogus = 999999;
    catalog_files_publish(cat, &bogus, 1); /* unknown id: ignored */
    catalog_files_list(cat, "db", "cpu", INT64_MIN, INT64_MAX, &l);
    assert_int_equal(l.n, 1);
    catalog_file_list_free(&l);
    catalog_databases(cat, &dbs, &ndb);
    assert_int_equal(ndb, 1);
    assert_string_equal(dbs[0], "db");
    xfree(dbs);

    /* Duplicate key: RC_EXISTS, nothing added (all or nothing). */
    struct catalog_file_entry two[2] = {
        entry("db/cpu/new.parquet", "db", "cpu", 1, 2, 1),
        entry("db/cpu/2025/01/15/14/a.parquet", "db", "cpu", 1, 2, 1),
    };
    uint64_t ids2[2];
    assert_int_equal(catalog_files_add(cat, two, 2, ids2, &eb), RC_EXISTS);
    errbuf_clear(&eb);
    catalog_files_list(cat, "db", "cpu", INT64_MIN, INT64_MAX, &l);
    assert_int_equal(l.n, 1);
    catalog_file_list_free(&l);
    /* The failed transaction did not lose pending schema entries. */
    enum col_type ex;
    assert_int_equal(check(cat, "db", "cpu", "pending_col", COL_BOOL, &ex), RC_OK);
    assert_int_equal(catalog_files_add(cat, two, 2, ids2, &eb), RC_EXISTS);
    errbuf_clear(&eb);
    /* Bad entries. */
    struct catalog_file_entry bad = entry("db/cpu/b.parquet", "db", "cpu", 5, 4, 1);
    assert_int_equal(catalog_files_add(cat, &bad, 1, ids2, &eb), RC_INVALID);
    errbuf_clear(&eb);
    bad = entry("k.parquet", "bad db", "cpu", 1, 2, 1);
    assert_int_equal(catalog_files_add(cat, &bad, 1, ids2, &eb), RC_INVALID);
    errbuf_clear(&eb);
    catalog_close(&cat);
    cat = open_cat();
    assert_int_equal(check(cat, "db", "cpu", "pending_col", COL_INT64, &ex), RC_INVALID);
    assert_int_equal(ex, COL_BOOL);
    catalog_close(&cat);
}

static void test_time_range_listing(void **state)
{
    struct catalog *cat = open_cat();
    int64_t h = INT64_C(1736949600) * US_PER_SEC; /* 2025-01-15T14:00:00Z */
    struct catalog_file_entry e[4] = {
        entry("db/cpu/2025/01/15/14/a.parquet", "db", "cpu", h, h + US_PER_HOUR - 1, 10),
        entry("db/cpu/2025/01/15/15/b.parquet", "db", "cpu", h + US_PER_HOUR,
              h + 2 * US_PER_HOUR - 1, 20),
        entry("db/cpu/2025/01/15/16/c.parquet", "db", "cpu", h + 2 * US_PER_HOUR,
              h + 2 * US_PER_HOUR + 5, CATALOG_ROWS_UNKNOWN),
        entry("db/mem/2025/01/15/14/d.parquet", "db", "mem", h, h, 1),
    };
    e[3].bytes = 7;
    uint64_t ids[4];
    struct errbuf eb = {0};
    assert_int_equal(catalog_files_add(cat, e, 4, ids, &eb), RC_OK);
    catalog_files_publish(cat, ids, 4);

    struct catalog_file_list l;
    /* [h + 1h, h + 2h): only b. a ends at h+1h-1 (inclusive), c starts at h+2h. */
    catalog_files_list(cat, "db", "cpu", h + US_PER_HOUR, h + 2 * US_PER_HOUR, &l);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.files[0].key, "db/cpu/2025/01/15/15/b.parquet");
    catalog_file_list_free(&l);
    /* [h + 1h - 1, h + 2h + 1): a (last microsecond), b, c (first). Sorted by min time. */
    catalog_files_list(cat, "db", "cpu", h + US_PER_HOUR - 1, h + 2 * US_PER_HOUR + 1, &l);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.files[0].key, "db/cpu/2025/01/15/14/a.parquet");
    assert_string_equal(l.files[1].key, "db/cpu/2025/01/15/15/b.parquet");
    assert_string_equal(l.files[2].key, "db/cpu/2025/01/15/16/c.parquet");
    catalog_file_list_free(&l);
    /* Before everything; after everything. */
    catalog_files_list(cat, "db", "cpu", 0, h, &l);
    assert_int_equal(l.n, 0);
    catalog_file_list_free(&l);
    catalog_files_list(cat, "db", "cpu", h + 2 * US_PER_HOUR + 6, INT64_MAX, &l);
    assert_int_equal(l.n, 0);
    catalog_file_list_free(&l);
    catalog_files_list(cat, "db", "nope", INT64_MIN, INT64_MAX, &l);
    assert_int_equal(l.n, 0);
    catalog_file_list_free(&l);

    struct catalog_measurement_info *mi = NULL;
    size_t n = 0;
    catalog_measurements(cat, "db", &mi, &n);
    assert_int_equal(n, 2);
    assert_string_equal(mi[0].name, "cpu");
    assert_int_equal(mi[0].file_count, 3);
    assert_int_equal(mi[0].total_bytes, 3000);
    assert_int_equal(mi[0].row_count, CATALOG_ROWS_UNKNOWN);
    assert_int_equal(mi[0].min_time_us, h);
    assert_int_equal(mi[0].max_time_us, h + 2 * US_PER_HOUR + 5);
    assert_string_equal(mi[1].name, "mem");
    assert_int_equal(mi[1].file_count, 1);
    assert_int_equal(mi[1].total_bytes, 7);
    assert_int_equal(mi[1].row_count, 1);
    xfree(mi);

    /* Remove a and c: listing and stats follow. */
    uint64_t rm[3] = {ids[0], ids[2], 424242};
    assert_int_equal(catalog_files_remove(cat, rm, 3, &eb), RC_OK);
    catalog_files_list(cat, "db", "cpu", INT64_MIN, INT64_MAX, &l);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.files[0].id, ids[1]);
    catalog_file_list_free(&l);
    catalog_measurements(cat, "db", &mi, &n);
    assert_int_equal(mi[0].file_count, 1);
    assert_int_equal(mi[0].row_count, 20);
    xfree(mi);
    catalog_close(&cat);
}

static void test_many_files_index(void **state)
{
    /* Exercises id-index growth and backward-shift deletion. */
    struct catalog *cat = open_cat();
    enum { N = 3000 };
    struct catalog_file_entry *e = xcalloc(N, sizeof(*e));
    char(*keys)[64] = xcalloc(N, sizeof(*keys));
    uint64_t *ids = xcalloc(N, sizeof(*ids));
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof(keys[i]), "db/m%d/f%d.parquet", i % 7, i);
        char *m = xstrdup(keys[i] + 3);
        *strchr(m, '/') = '\0';
        e[i] = entry(keys[i], "db", m, i, i + 1, 1);
    }
    struct errbuf eb = {0};
    assert_int_equal(catalog_files_add(cat, e, N, ids, &eb), RC_OK);
    catalog_files_publish(cat, ids, N);
    /* Remove every other file. */
    uint64_t *rm = xcalloc(N / 2, sizeof(*rm));
    for (int i = 0; i < N / 2; i++)
        rm[i] = ids[2 * i];
    assert_int_equal(catalog_files_remove(cat, rm, N / 2, &eb), RC_OK);
    size_t total = 0;
    for (int m = 0; m < 7; m++) {
        char name[8];
        snprintf(name, sizeof(name), "m%d", m);
        struct catalog_file_list l;
        catalog_files_list(cat, "db", name, INT64_MIN, INT64_MAX, &l);
        for (size_t j = 0; j < l.n; j++)
            assert_int_equal(l.files[j].id % 2, ids[1] % 2); /* only odd positions left */
        total += l.n;
        catalog_file_list_free(&l);
    }
    assert_int_equal(total, N / 2);
    /* Removing the rest through the index finds every one. */
    for (int i = 0; i < N / 2; i++)
        rm[i] = ids[2 * i + 1];
    assert_int_equal(catalog_files_remove(cat, rm, N / 2, &eb), RC_OK);
    char(*dbs)[DB_NAME_MAX + 1] = NULL;
    size_t ndb = 1;
    catalog_databases(cat, &dbs, &ndb);
    assert_int_equal(ndb, 0);
    xfree(dbs);
    for (int i = 0; i < N; i++)
        xfree((char *)e[i].measurement);
    xfree(e);
    xfree(keys);
    xfree(ids);
    xfree(rm);
    catalog_close(&cat);
}

/* A child process registers columns, adds files, maybe publishes, and exits
 * without closing the catalog (a crash, as far as SQLite is concerned). */
static void test_crash_semantics(void **state)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct catalog *cat = NULL;
        struct errbuf eb = {0};
        if (catalog_open(g_path, &cat, &eb) != RC_OK)
            _exit(2);
        struct schema_checker sc = catalog_schema_checker(cat);
        enum col_type ex;
        sc.check(sc.ctx, "db", "cpu", "in_file", 7, COL_INT64, &ex);
        struct catalog_file_entry e[2] = {
            entry("db/cpu/a.parquet", "db", "cpu", 1, 2, 1),
            entry("db/cpu/b.parquet", "db", "cpu", 3, 4, 1),
        };
        uint64_t ids[2];
        if (catalog_files_add(cat, e, 2, ids, &eb) != RC_OK)
            _exit(3);
        catalog_files_publish(cat, ids, 1); /* a: published (flag not persisted), b: not */
        /* Registered after the last add: only in memory. */
        sc.check(sc.ctx, "db", "cpu", "late", 4, COL_STRING, &ex);
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    struct catalog *cat = open_cat();
    /* Both files are complete, so both are visible after the crash. */
    struct catalog_file_list l;
    catalog_files_list(cat, "db", "cpu", INT64_MIN, INT64_MAX, &l);
    assert_int_equal(l.n, 2);
    catalog_file_list_free(&l);
    /* The column type of the added file was committed with it. */
    enum col_type ex = 0;
    assert_int_equal(check(cat, "db", "cpu", "in_file", COL_DOUBLE, &ex), RC_INVALID);
    assert_int_equal(ex, COL_INT64);
    /* The late column was lost with the process: a new type is accepted. */
    assert_int_equal(check(cat, "db", "cpu", "late", COL_DOUBLE, &ex), RC_OK);
    catalog_close(&cat);
}

/* ---- reconcile ---------------------------------------------------------- */

struct fake_obj {
    const char *key;
    uint64_t size;
};

struct fake_store {
    const struct fake_obj *objs;
    size_t n;
    bool fail_midway;
};

static int fake_list(void *ctx, const char *prefix, catalog_object_fn fn, void *fn_ctx,
                     struct errbuf *eb)
{
    struct fake_store *fs = ctx;
    assert_string_equal(prefix, "");
    for (size_t i = 0; i < fs->n; i++) {
        if (fs->fail_midway && i == fs->n / 2)
            return errbuf_set(eb, RC_IO, "fake: listing broke");
        int rc = fn(fn_ctx, fs->objs[i].key, fs->objs[i].size, INT64_C(1700000000000000));
        if (rc != RC_OK)
            return rc;
    }
    return RC_OK;
}

static void test_reconcile(void **state)
{
    struct catalog *cat = open_cat();
    struct catalog_file_entry e[2] = {
        entry("db/cpu/2025/01/15/14/known.parquet", "db", "cpu", 5, 6, 3),
        entry("db/cpu/2025/01/15/14/gone.parquet", "db", "cpu", 5, 6, 3),
    };
    uint64_t ids[2];
    struct errbuf eb = {0};
    assert_int_equal(catalog_files_add(cat, e, 2, ids, &eb), RC_OK);
    catalog_files_publish(cat, ids, 2);

    const struct fake_obj objs[] = {
        {"db/cpu/2025/01/15/14/known.parquet", 1000},
        {"db/cpu/2025/01/15/15/new_hour.parquet", 111},
        {"db/cpu/2025/01/15/x_b1_daily.parquet", 222},
        {"db/cpu/2025/01/15/16/y_b2_compacted.parquet", 333},
        {"db/cpu/odd/place.parquet", 444},
        {"db2/disk/2025/02/30/01/bad_date.parquet", 555},
        {"db/cpu/2025/01/15/14/notes.txt", 1},
        {"9bad/cpu/f.parquet", 1},
        {"top.parquet", 1},
    };
    struct fake_store fs = {objs, sizeof(objs) / sizeof(objs[0]), true};
    struct catalog_lister lister = {fake_list, &fs};
    struct catalog_reconcile_stats stats;

    /* A failing listing changes nothing. */
    assert_int_equal(catalog_reconcile(cat, &lister, &stats, &eb), RC_IO);
    errbuf_clear(&eb);
    struct catalog_file_list l;
    catalog_files_list(cat, "db", "cpu", INT64_MIN, INT64_MAX, &l);
    assert_int_equal(l.n, 2);
    catalog_file_list_free(&l);

    fs.fail_midway = false;
    assert_int_equal(catalog_reconcile(cat, &lister, &stats, &eb), RC_OK);
    assert_int_equal(stats.listed, 6);
    assert_int_equal(stats.added, 5);
    assert_int_equal(stats.removed, 1);
    assert_int_equal(stats.ignored, 2);

    int64_t h15 = INT64_C(1736949600) * US_PER_SEC + US_PER_HOUR; /* 2025-01-15T15:00Z */
    int64_t day = INT64_C(1736899200) * US_PER_SEC;               /* 2025-01-15T00:00Z */
    catalog_files_list(cat, "db", "cpu", INT64_MIN, INT64_MAX, &l);
    assert_int_equal(l.n, 5);
    /* Sorted by min time: odd/place (unknown range) first, then daily, 14h, 15h, 16h. */
    assert_string_equal(l.files[0].key, "db/cpu/odd/place.parquet");
    assert_int_equal(l.files[0].min_time_us, TIME_MIN_US);
    assert_int_equal(l.files[0].max_time_us, TIME_MAX_US);
    assert_string_equal(l.files[1].key, "db/cpu/2025/01/15/14/known.parquet");
    assert_int_equal(l.files[1].row_count, 3); /* known entry untouched */
    assert_string_equal(l.files[2].key, "db/cpu/2025/01/15/x_b1_daily.parquet");
    assert_int_equal(l.files[2].min_time_us, day);
    assert_int_equal(l.files[2].max_time_us, day + US_PER_DAY - 1);
    assert_int_equal(l.files[2].tier, CATALOG_TIER_DAILY);
    assert_int_equal(l.files[2].bytes, 222);
    assert_int_equal(l.files[2].row_count, CATALOG_ROWS_UNKNOWN);
    assert_string_equal(l.files[3].key, "db/cpu/2025/01/15/15/new_hour.parquet");
    assert_int_equal(l.files[3].min_time_us, h15);
    assert_int_equal(l.files[3].max_time_us, h15 + US_PER_HOUR - 1);
    assert_int_equal(l.files[3].tier, CATALOG_TIER_RAW);
    assert_int_equal(l.files[3].created_at_us, INT64_C(1700000000000000));
    assert_string_equal(l.files[4].key, "db/cpu/2025/01/15/16/y_b2_compacted.parquet");
    assert_int_equal(l.files[4].tier, CATALOG_TIER_COMPACTED);
    catalog_file_list_free(&l);
    /* Invalid date directory: whole range. */
    catalog_files_list(cat, "db2", "disk", INT64_MIN, INT64_MAX, &l);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.files[0].min_time_us, TIME_MIN_US);
    catalog_file_list_free(&l);

    /* Idempotent: a second run changes nothing, and state survives reopen. */
    assert_int_equal(catalog_reconcile(cat, &lister, &stats, &eb), RC_OK);
    assert_int_equal(stats.added, 0);
    assert_int_equal(stats.removed, 0);
    catalog_close(&cat);
    cat = open_cat();
    catalog_files_list(cat, "db", "cpu", h15, h15 + 1, &l);
    assert_int_equal(l.n, 3); /* odd/place, daily, 15h */
    catalog_file_list_free(&l);
    catalog_close(&cat);
}

static void test_key_time_range(void **state)
{
    int64_t lo, hi;
    assert_true(catalog_key_time_range("d/m/2025/01/15/14/f.parquet", &lo, &hi));
    assert_int_equal(lo, INT64_C(1736949600) * US_PER_SEC);
    assert_int_equal(hi, lo + US_PER_HOUR - 1);
    assert_true(catalog_key_time_range("d/m/2024/02/29/f.parquet", &lo, &hi));
    assert_int_equal(hi - lo, US_PER_DAY - 1);
    assert_false(catalog_key_time_range("d/m/2025/02/29/f.parquet", &lo, &hi));
    assert_false(catalog_key_time_range("d/m/2025/01/15/24/f.parquet", &lo, &hi));
    assert_false(catalog_key_time_range("d/m/2025/1/15/f.parquet", &lo, &hi));
    assert_false(catalog_key_time_range("d/m/2025/13/15/f.parquet", &lo, &hi));
    assert_false(catalog_key_time_range("d/m/f.parquet", &lo, &hi));
    assert_false(catalog_key_time_range("d/m/2025/01/15/14/extra/f.parquet", &lo, &hi));
}

static void test_tier_names(void **state)
{
    assert_string_equal(catalog_tier_name(CATALOG_TIER_RAW), "raw");
    assert_string_equal(catalog_tier_name(CATALOG_TIER_COMPACTED), "compacted");
    assert_string_equal(catalog_tier_name(CATALOG_TIER_DAILY), "daily");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_schema_conflicts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_race_first_writer_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persistence_and_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_publish_visibility, setup, teardown),
        cmocka_unit_test_setup_teardown(test_time_range_listing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_files_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_semantics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reconcile, setup, teardown),
        cmocka_unit_test(test_key_time_range),
        cmocka_unit_test(test_tier_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
