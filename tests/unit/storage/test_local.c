/* Unit tests for storage/ with the local backend: atomic put, staging names,
 * listing rules (hidden names, prefixes), key validation, reads, deletes,
 * metrics. */
#include "test_helpers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "metrics/metrics.h"
#include "storage/storage.h"
#include "util/mem.h"

static char g_root[256];

static void write_file(const char *path, const char *content)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    static char buf[4096];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void rm_rf(const char *path)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
    snprintf(g_root, sizeof(g_root), "/tmp/arc-test-storage-XXXXXX");
    if (!mkdtemp(g_root))
        return -1;
    /* Base path that does not exist yet, nested: storage_new_local must create it. */
    char base[300];
    snprintf(base, sizeof(base), "%s/a/b/data/", g_root);
    struct storage *st = NULL;
    struct errbuf eb = {0};
    if (storage_new_local(base, &st, &eb) != RC_OK)
        return -1;
    *state = st;
    return 0;
}

static int teardown(void **state)
{
    struct storage *st = *state;
    storage_free(&st);
    assert_null(st);
    rm_rf(g_root);
    return 0;
}

static void put_text(struct storage *st, const char *key, const char *content)
{
    char tmp[1024];
    struct errbuf eb = {0};
    assert_int_equal(storage_staging_path(st, key, tmp, sizeof(tmp), &eb), RC_OK);
    write_file(tmp, content);
    uint64_t bytes = 0;
    assert_int_equal(storage_put_file(st, tmp, key, 0, &bytes, &eb), RC_OK);
    assert_int_equal(bytes, strlen(content));
    assert_int_equal(access(tmp, F_OK), -1); /* moved, not copied */
}

static void test_root_and_name(void **state)
{
    struct storage *st = *state;
    char want[300];
    snprintf(want, sizeof(want), "%s/a/b/data", g_root);
    assert_string_equal(storage_local_root(st), want); /* trailing '/' dropped */
    assert_string_equal(storage_backend_name(st), "local");
    struct stat sb;
    assert_int_equal(stat(want, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
}

static void test_key_validation(void **state)
{
    struct storage *st = *state;
    const char *bad[] = {"",   "/etc/passwd", "../x",  "a/../../x", "a/..", "..",      "a//b",
                         "a/", "./a",         "a/./b", "a\\..\\b",  ".",    "a/b/../c"};
    char tmp[1024], victim[300];
    struct storage_object_info info;
    snprintf(victim, sizeof(victim), "%s/victim", g_root);
    write_file(victim, "v");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct errbuf eb = {0};
        assert_false(storage_key_is_valid(bad[i]));
        assert_int_equal(storage_head(st, bad[i], &info, &eb), RC_INVALID);
        assert_non_null(strstr(eb.msg, "invalid key"));
        errbuf_clear(&eb);
        assert_int_equal(storage_staging_path(st, bad[i], tmp, sizeof(tmp), &eb), RC_INVALID);
        errbuf_clear(&eb);
        assert_int_equal(storage_delete(st, bad[i], &eb), RC_INVALID);
        errbuf_clear(&eb);
        assert_int_equal(storage_put_file(st, victim, bad[i], 0, NULL, &eb), RC_INVALID);
        assert_int_equal(access(victim, F_OK), 0);
        errbuf_clear(&eb);
        assert_int_equal(storage_get_file(st, bad[i], "/tmp/never-written", &eb), RC_INVALID);
    }
    char longkey[STORAGE_KEY_MAX + 2];
    memset(longkey, 'a', sizeof(longkey) - 1);
    longkey[sizeof(longkey) - 1] = '\0';
    assert_false(storage_key_is_valid(longkey));
    /* Good keys, including hidden and unicode components. */
    assert_true(storage_key_is_valid("db/m/2025/01/15/14/f.parquet"));
    assert_true(storage_key_is_valid("db/.arc-database"));
    assert_true(storage_key_is_valid("a..b/c...d"));
    assert_true(storage_key_is_valid("d\xc3\xa9j\xc3\xa0/x"));
    /* Prefixes: traversal also rejected. */
    struct errbuf eb = {0};
    assert_int_equal(storage_list(st, "../", NULL, NULL, &eb), RC_INVALID);
    errbuf_clear(&eb);
    assert_int_equal(storage_list(st, "/abs", NULL, NULL, &eb), RC_INVALID);
    errbuf_clear(&eb);
    assert_int_equal(storage_list(st, "a/../", NULL, NULL, &eb), RC_INVALID);
}

static void test_atomic_put(void **state)
{
    struct storage *st = *state;
    const char *key = "db/cpu/2025/01/15/14/cpu_20250115_140000_000000001.parquet";
    char tmp[1024];
    struct errbuf eb = {0};
    assert_int_equal(storage_staging_path(st, key, tmp, sizeof(tmp), &eb), RC_OK);
    /* Staging file: same directory as the destination, hidden, not *.parquet. */
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/db/cpu/2025/01/15/14/", storage_local_root(st));
    assert_memory_equal(tmp, dir, strlen(dir));
    assert_int_equal(tmp[strlen(dir)], '.');
    size_t tl = strlen(tmp);
    assert_true(tl < 8 || strcmp(tmp + tl - 8, ".parquet") != 0);
    /* Two staging paths for the same key differ (concurrent producers). */
    char tmp2[1024];
    assert_int_equal(storage_staging_path(st, key, tmp2, sizeof(tmp2), &eb), RC_OK);
    assert_string_not_equal(tmp, tmp2);

    write_file(tmp, "hello parquet");
    /* While staged, the object is neither listed nor found. */
    struct storage_object_info info;
    assert_int_equal(storage_head(st, key, &info, &eb), RC_NOT_FOUND);
    errbuf_clear(&eb);
    uint64_t bytes = 0;
    assert_int_equal(storage_put_file(st, tmp, key, STORAGE_PUT_NOREPLACE, &bytes, &eb), RC_OK);
    assert_int_equal(bytes, 13);
    assert_int_equal(access(tmp, F_OK), -1);
    assert_int_equal(storage_head(st, key, &info, &eb), RC_OK);
    assert_int_equal(info.size_bytes, 13);
    assert_true(info.mtime_us > INT64_C(1600000000) * 1000000);

    /* NOREPLACE refuses to clobber and leaves both files as they were. */
    write_file(tmp2, "other");
    assert_int_equal(storage_put_file(st, tmp2, key, STORAGE_PUT_NOREPLACE, NULL, &eb), RC_EXISTS);
    errbuf_clear(&eb);
    assert_int_equal(access(tmp2, F_OK), 0);
    char path[1200];
    snprintf(path, sizeof(path), "%s/%s", storage_local_root(st), key);
    assert_string_equal(read_all(path), "hello parquet");
    /* Without the flag it replaces. */
    assert_int_equal(storage_put_file(st, tmp2, key, 0, NULL, &eb), RC_OK);
    assert_string_equal(read_all(path), "other");

    /* Missing local file. */
    assert_int_equal(storage_put_file(st, "/nonexistent/file", "db/x.parquet", 0, NULL, &eb),
                     RC_NOT_FOUND);

    /* No staging leftovers in the directory. */
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    closedir(d);
    assert_int_equal(n, 1);
}

static void test_put_from_other_dir(void **state)
{
    /* A local file outside the destination directory (e.g. /tmp on another
     * file system) still ends up as the object and the source is removed. */
    struct storage *st = *state;
    char src[300];
    snprintf(src, sizeof(src), "%s/outside.bin", g_root);
    write_file(src, "xyz");
    struct errbuf eb = {0};
    assert_int_equal(storage_put_file(st, src, "other/m/f.parquet", 0, NULL, &eb), RC_OK);
    assert_int_equal(access(src, F_OK), -1);
    char buf[8];
    size_t n = 0;
    assert_int_equal(storage_read_range(st, "other/m/f.parquet", 1, buf, sizeof(buf), &n, &eb),
                     RC_OK);
    assert_int_equal(n, 2);
    assert_memory_equal(buf, "yz", 2);
}

struct seen {
    char keys[32][256];
    uint64_t sizes[32];
    int n;
};

static int collect(void *ctx, const char *key, uint64_t size, int64_t mtime_us)
{
    struct seen *s = ctx;
    assert_true(s->n < 32);
    assert_true(mtime_us > 0);
    snprintf(s->keys[s->n], sizeof(s->keys[0]), "%s", key);
    s->sizes[s->n] = size;
    s->n++;
    return RC_OK;
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void sort_seen(struct seen *s)
{
    qsort(s->keys, (size_t)s->n, sizeof(s->keys[0]), cmp_keys);
}

static void test_list_rules(void **state)
{
    struct storage *st = *state;
    put_text(st, "db1/cpu/2025/01/15/14/a.parquet", "1");
    put_text(st, "db1/cpu/2025/01/15/15/b.parquet", "22");
    put_text(st, "db1/cpus/2025/01/15/15/c.parquet", "333");
    put_text(st, "db1/mem/x.parquet", "4444");
    put_text(st, "db2/disk/y.parquet", "55555");
    /* Hidden: any component starting with '.' or '_'. */
    put_text(st, "db1/.arc-database", "m");
    put_text(st, "_internal/compaction/lock", "l");
    put_text(st, "db1/cpu/_tmp/z.parquet", "z");
    put_text(st, "db1/cpu/2025/01/15/14/.staging.tmp", "s");
    put_text(st, "db2/_x.parquet", "h");
    /* A leftover staging file that was never put. */
    char tmp[1024];
    struct errbuf eb = {0};
    assert_int_equal(storage_staging_path(st, "db2/disk/y2.parquet", tmp, sizeof(tmp), &eb), RC_OK);
    write_file(tmp, "partial");
    /* A symlink is not an object. */
    char link_path[1200];
    snprintf(link_path, sizeof(link_path), "%s/db2/disk/link.parquet", storage_local_root(st));
    assert_int_equal(symlink("/etc/hostname", link_path), 0);

    struct seen s = {0};
    assert_int_equal(storage_list(st, "", collect, &s, &eb), RC_OK);
    sort_seen(&s);
    assert_int_equal(s.n, 5);
    assert_string_equal(s.keys[0], "db1/cpu/2025/01/15/14/a.parquet");
    assert_string_equal(s.keys[1], "db1/cpu/2025/01/15/15/b.parquet");
    assert_string_equal(s.keys[2], "db1/cpus/2025/01/15/15/c.parquet");
    assert_string_equal(s.keys[3], "db1/mem/x.parquet");
    assert_string_equal(s.keys[4], "db2/disk/y.parquet");

    /* Directory prefix vs string prefix (S3 semantics). */
    memset(&s, 0, sizeof(s));
    assert_int_equal(storage_list(st, "db1/cpu/", collect, &s, &eb), RC_OK);
    assert_int_equal(s.n, 2);
    memset(&s, 0, sizeof(s));
    assert_int_equal(storage_list(st, "db1/cpu", collect, &s, &eb), RC_OK);
    assert_int_equal(s.n, 3);
    memset(&s, 0, sizeof(s));
    assert_int_equal(storage_list(st, "db1/cpu/2025/01/15/15/b", collect, &s, &eb), RC_OK);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.sizes[0], 2);
    memset(&s, 0, sizeof(s));
    assert_int_equal(storage_list(st, "nope/", collect, &s, &eb), RC_OK);
    assert_int_equal(s.n, 0);
    /* A hidden prefix lists nothing. */
    memset(&s, 0, sizeof(s));
    assert_int_equal(storage_list(st, "_internal/", collect, &s, &eb), RC_OK);
    assert_int_equal(s.n, 0);
}

static int stop_after_one(void *ctx, const char *key, uint64_t size, int64_t mtime_us)
{
    (*(int *)ctx)++;
    return RC_BUSY;
}

static void test_list_stop(void **state)
{
    struct storage *st = *state;
    put_text(st, "d/m/1.parquet", "1");
    put_text(st, "d/m/2.parquet", "2");
    int calls = 0;
    struct errbuf eb = {0};
    assert_int_equal(storage_list(st, "d/", stop_after_one, &calls, &eb), RC_BUSY);
    assert_int_equal(calls, 1);
}

static void test_read_get_delete(void **state)
{
    struct storage *st = *state;
    put_text(st, "d/m/f.parquet", "0123456789");
    struct errbuf eb = {0};
    char buf[16];
    size_t n = 99;
    assert_int_equal(storage_read_range(st, "d/m/f.parquet", 3, buf, 4, &n, &eb), RC_OK);
    assert_int_equal(n, 4);
    assert_memory_equal(buf, "3456", 4);
    assert_int_equal(storage_read_range(st, "d/m/f.parquet", 8, buf, 10, &n, &eb), RC_OK);
    assert_int_equal(n, 2);
    assert_int_equal(storage_read_range(st, "d/m/f.parquet", 100, buf, 10, &n, &eb), RC_OK);
    assert_int_equal(n, 0);
    assert_int_equal(storage_read_range(st, "d/m/none.parquet", 0, buf, 10, &n, &eb), RC_NOT_FOUND);
    errbuf_clear(&eb);

    char local[300];
    snprintf(local, sizeof(local), "%s/copy.bin", g_root);
    assert_int_equal(storage_get_file(st, "d/m/f.parquet", local, &eb), RC_OK);
    assert_string_equal(read_all(local), "0123456789");
    assert_int_equal(storage_get_file(st, "d/m/none.parquet", local, &eb), RC_NOT_FOUND);
    errbuf_clear(&eb);

    assert_int_equal(storage_delete(st, "d/m/f.parquet", &eb), RC_OK);
    struct storage_object_info info;
    assert_int_equal(storage_head(st, "d/m/f.parquet", &info, &eb), RC_NOT_FOUND);
    errbuf_clear(&eb);
    /* Idempotent. */
    assert_int_equal(storage_delete(st, "d/m/f.parquet", &eb), RC_OK);

    put_text(st, "d/m/a.parquet", "a");
    put_text(st, "d/m/b.parquet", "b");
    const char *keys[] = {"d/m/a.parquet", "../evil", "d/m/b.parquet", "d/m/missing.parquet"};
    size_t failed = 0;
    assert_int_equal(storage_delete_many(st, keys, 4, &failed, &eb), RC_INVALID);
    assert_int_equal(failed, 1); /* only the invalid key; the valid ones are gone */
    assert_int_equal(storage_head(st, "d/m/a.parquet", &info, &eb), RC_NOT_FOUND);
    assert_int_equal(storage_head(st, "d/m/b.parquet", &info, &eb), RC_NOT_FOUND);
}

static void test_metrics(void **state)
{
    struct storage *st = *state;
    double w0 = metrics_family_total("arc_storage_writes_total");
    double b0 = metrics_family_total("arc_storage_write_bytes_total");
    double r0 = metrics_family_total("arc_storage_reads_total");
    double e0 = metrics_family_total("arc_storage_errors_total");
    put_text(st, "m/x/1.parquet", "12345");
    char buf[4];
    size_t n;
    struct errbuf eb = {0};
    assert_int_equal(storage_read_range(st, "m/x/1.parquet", 0, buf, 4, &n, &eb), RC_OK);
    /* A not-found is not an error; an I/O failure is. */
    struct storage_object_info info;
    assert_int_equal(storage_head(st, "m/x/2.parquet", &info, &eb), RC_NOT_FOUND);
    errbuf_clear(&eb);
    /* The parent "directory" of this key is a file. */
    char src[300];
    snprintf(src, sizeof(src), "%s/src", g_root);
    write_file(src, "s");
    assert_int_equal(storage_put_file(st, src, "m/x/1.parquet/child", 0, NULL, &eb), RC_IO);
    assert_int_equal(access(src, F_OK), 0);
    assert_int_equal((int64_t)metrics_family_total("arc_storage_writes_total"), (int64_t)(w0 + 1));
    assert_int_equal((int64_t)metrics_family_total("arc_storage_write_bytes_total"),
                     (int64_t)(b0 + 5));
    assert_int_equal((int64_t)metrics_family_total("arc_storage_reads_total"), (int64_t)(r0 + 1));
    assert_int_equal((int64_t)metrics_family_total("arc_storage_errors_total"), (int64_t)(e0 + 1));
}

static void test_small_buffer(void **state)
{
    struct storage *st = *state;
    char tiny[16];
    struct errbuf eb = {0};
    assert_int_equal(storage_staging_path(st, "d/m/f.parquet", tiny, sizeof(tiny), &eb), RC_LIMIT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_root_and_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_atomic_put, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_from_other_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_get_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_small_buffer, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
