/* The S3 backend against a real S3 implementation: the npm package s3rver
 * (pinned in tests/s3/package.json; install with
 * `npm ci --prefix tests/s3`), started here on 127.0.0.1 with an ephemeral
 * port and a temporary directory (s3rver_harness.h). Covers put, head, get
 * (whole and ranged), list with pagination and prefixes,
 * hidden names, the key prefix option, delete, delete_many, no-clobber
 * puts, path-style and virtual-hosted addressing, and (when the AWS CLI is
 * installed) an independent check of an uploaded object with
 * `aws s3api head-object`. The 100 MB multipart upload is in
 * test_s3_real_big.c (each executable stays near 10 s).
 *
 * Skipped, with a message, when node or s3rver is not installed. s3rver does
 * not verify SigV4 signatures; test_sigv4 and test_s3_faults do. */
#include "test_helpers.h"

#include <pthread.h>

#include "s3rver_harness.h"

/* ---- tests ---------------------------------------------------------------- */

static void test_put_head_get(void **state)
{
    (void)state;
    SKIP_IF_NEEDED();
    struct storage *st = open_real("arc/", false, 0);
    const char *key = "db/cpu/2025/01/15/14/cpu_20250115_140307_123456789.parquet";
    const char *content = "PAR1 0123456789 abcdefghijklmnopqrstuvwxyz PAR1";
    int64_t before = time_now_us();
    put_str(st, key, content, 0, RC_OK);

    struct storage_object_info info;
    struct errbuf eb = {0};
    assert_int_equal(storage_head(st, key, &info, &eb), RC_OK);
    assert_int_equal(info.size_bytes, strlen(content));
    assert_true(info.mtime_us >= before / US_PER_SEC * US_PER_SEC - 2 * US_PER_SEC);
    assert_true(info.mtime_us <= time_now_us() + 2 * US_PER_SEC);
    assert_int_equal(storage_head(st, "db/cpu/nope.parquet", &info, &eb), RC_NOT_FOUND);

    char local[256];
    snprintf(local, sizeof(local), "%s/got.parquet", g_root);
    assert_int_equal(storage_get_file(st, key, local, &eb), RC_OK);
    FILE *f = fopen(local, "r");
    char buf[256] = "";
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    assert_int_equal(n, strlen(content));
    assert_string_equal(buf, content);
    unlink(local);
    assert_int_equal(storage_get_file(st, "db/cpu/nope.parquet", local, &eb), RC_NOT_FOUND);
    assert_true(access(local, F_OK) != 0);

    /* Ranged reads: middle, running past the end, at and past the end. */
    char r[32];
    size_t got = 0;
    assert_int_equal(storage_read_range(st, key, 5, r, 10, &got, &eb), RC_OK);
    assert_int_equal(got, 10);
    assert_memory_equal(r, "0123456789", 10);
    size_t len = strlen(content);
    assert_int_equal(storage_read_range(st, key, len - 4, r, 32, &got, &eb), RC_OK);
    assert_int_equal(got, 4);
    assert_memory_equal(r, "PAR1", 4);
    assert_int_equal(storage_read_range(st, key, len, r, 8, &got, &eb), RC_OK);
    assert_int_equal(got, 0);
    assert_int_equal(storage_read_range(st, key, len + 100, r, 8, &got, &eb), RC_OK);
    assert_int_equal(got, 0);
    assert_int_equal(storage_read_range(st, key, 0, r, 0, &got, &eb), RC_OK);
    assert_int_equal(got, 0);
    assert_int_equal(storage_read_range(st, "db/cpu/nope.parquet", 0, r, 8, &got, &eb),
                     RC_NOT_FOUND);

    /* Keys with characters that need encoding survive the round trip. */
    const char *odd = "db/m\xc3\xa9tr/a b+c=d&e;f'g(h)!.parquet";
    put_str(st, odd, "odd", 0, RC_OK);
    assert_int_equal(storage_read_range(st, odd, 0, r, 8, &got, &eb), RC_OK);
    assert_int_equal(got, 3);
    assert_memory_equal(r, "odd", 3);

    /* No-clobber. */
    put_str(st, key, "other", STORAGE_PUT_NOREPLACE, RC_EXISTS);
    put_str(st, "db/cpu/fresh.parquet", "fresh", STORAGE_PUT_NOREPLACE, RC_OK);
    /* An empty object. */
    put_str(st, "db/cpu/empty.parquet", "", 0, RC_OK);
    assert_int_equal(storage_head(st, "db/cpu/empty.parquet", &info, &eb), RC_OK);
    assert_int_equal(info.size_bytes, 0);
    storage_free(&st);
}

struct listed {
    int n;
    int bad;
    char last[256];
    char seen[64][128];
};

static int collect(void *ctx, const char *key, uint64_t size, int64_t mtime)
{
    struct listed *l = ctx;
    if (size != 3 || mtime <= 0 || key[0] == '.' || strstr(key, "/.") || strstr(key, "/_"))
        l->bad++;
    if (l->n < 64)
        snprintf(l->seen[l->n], sizeof(l->seen[0]), "%s", key);
    snprintf(l->last, sizeof(l->last), "%s", key);
    l->n++;
    return RC_OK;
}

static bool listed_has(const struct listed *l, const char *key)
{
    for (int i = 0; i < l->n && i < 64; i++)
        if (strcmp(l->seen[i], key) == 0)
            return true;
    return false;
}

static void test_list_delete(void **state)
{
    (void)state;
    SKIP_IF_NEEDED();
    /* Page size 7: 25 keys need 4 pages. */
    struct storage *st = open_real("lst", false, 7);
    char key[128];
    for (int i = 0; i < 25; i++) {
        snprintf(key, sizeof(key), "db/m/2025/01/01/%02d/m_%03d.parquet", i % 24, i);
        put_str(st, key, "abc", 0, RC_OK);
    }
    put_str(st, "db/other/x.parquet", "abc", 0, RC_OK);
    put_str(st, "db/m/.staging.tmp", "abc", 0, RC_OK);
    put_str(st, "db/m/_internal/y", "abc", 0, RC_OK);
    put_str(st, "db/mm/z.parquet", "abc", 0, RC_OK);

    struct listed l = {0};
    struct errbuf eb = {0};
    assert_int_equal(storage_list(st, "db/m/", collect, &l, &eb), RC_OK);
    assert_int_equal(l.n, 25);
    assert_int_equal(l.bad, 0);
    assert_true(listed_has(&l, "db/m/2025/01/01/00/m_000.parquet"));
    assert_true(listed_has(&l, "db/m/2025/01/01/00/m_024.parquet"));
    /* A string prefix, as S3 has it: "db/m" also matches "db/mm/". */
    memset(&l, 0, sizeof(l));
    assert_int_equal(storage_list(st, "db/m", collect, &l, &eb), RC_OK);
    assert_int_equal(l.n, 26);
    memset(&l, 0, sizeof(l));
    assert_int_equal(storage_list(st, "", collect, &l, &eb), RC_OK);
    assert_int_equal(l.n, 27);
    memset(&l, 0, sizeof(l));
    assert_int_equal(storage_list(st, "nothing/", collect, &l, &eb), RC_OK);
    assert_int_equal(l.n, 0);

    /* The objects really live under the prefix: a backend without one sees
     * them there, and the prefix is not visible through the first. */
    struct storage *raw = open_real("", false, 1000);
    memset(&l, 0, sizeof(l));
    assert_int_equal(storage_list(raw, "lst/db/m/", collect, &l, &eb), RC_OK);
    assert_int_equal(l.n, 25);

    /* delete + delete_many (DeleteObjects with Content-MD5). */
    assert_int_equal(storage_delete(st, "db/other/x.parquet", &eb), RC_OK);
    assert_int_equal(storage_delete(st, "db/other/x.parquet", &eb), RC_OK); /* idempotent */
    const char *keys[26];
    static char kbuf[26][128];
    for (int i = 0; i < 25; i++) {
        snprintf(kbuf[i], sizeof(kbuf[i]), "db/m/2025/01/01/%02d/m_%03d.parquet", i % 24, i);
        keys[i] = kbuf[i];
    }
    keys[25] = "db/m/never-existed.parquet";
    size_t failed = 99;
    assert_int_equal(storage_delete_many(st, keys, 26, &failed, &eb), RC_OK);
    assert_int_equal(failed, 0);
    memset(&l, 0, sizeof(l));
    assert_int_equal(storage_list(st, "db/", collect, &l, &eb), RC_OK);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.last, "db/mm/z.parquet");
    storage_free(&raw);
    storage_free(&st);
}

static void test_virtual_hosted(void **state)
{
    (void)state;
    SKIP_IF_NEEDED();
    /* bucket.s3.localhost: libcurl resolves *.localhost to loopback, s3rver
     * (--service-endpoint localhost) takes the bucket from the host name. */
    struct storage *st = open_real("vh/", true, 0);
    put_str(st, "db/v/a.parquet", "abc", 0, RC_OK);
    char r[8];
    size_t got = 0;
    struct errbuf eb = {0};
    assert_int_equal(storage_read_range(st, "db/v/a.parquet", 1, r, 8, &got, &eb), RC_OK);
    assert_int_equal(got, 2);
    assert_memory_equal(r, "bc", 2);
    struct listed l = {0};
    assert_int_equal(storage_list(st, "db/", collect, &l, &eb), RC_OK);
    assert_int_equal(l.n, 1);
    size_t failed;
    const char *k[] = {"db/v/a.parquet"};
    assert_int_equal(storage_delete_many(st, k, 1, &failed, &eb), RC_OK);
    storage_free(&st);
    /* Path-style sees the same object space. */
    st = open_real("vh/", false, 0);
    memset(&l, 0, sizeof(l));
    assert_int_equal(storage_list(st, "db/", collect, &l, &eb), RC_OK);
    assert_int_equal(l.n, 0);
    storage_free(&st);
}

struct worker {
    struct storage *st;
    int id;
    int errors;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < 6; i++) {
        char key[128], path[512], body[64];
        snprintf(key, sizeof(key), "db/conc/w%d/k%d.parquet", w->id, i);
        snprintf(body, sizeof(body), "worker %d item %d", w->id, i);
        struct errbuf eb = {0};
        uint64_t bytes;
        if (storage_staging_path(w->st, key, path, sizeof(path), &eb) != RC_OK) {
            w->errors++;
            continue;
        }
        FILE *f = fopen(path, "w");
        if (!f) {
            w->errors++;
            continue;
        }
        fputs(body, f);
        fclose(f);
        if (storage_put_file(w->st, path, key, STORAGE_PUT_NOREPLACE, &bytes, &eb) != RC_OK)
            w->errors++;
        char got[64] = "";
        size_t n = 0;
        if (storage_read_range(w->st, key, 0, got, sizeof(got) - 1, &n, &eb) != RC_OK ||
            n != strlen(body) || memcmp(got, body, n) != 0)
            w->errors++;
    }
    return NULL;
}

static int count_only(void *ctx, const char *key, uint64_t size, int64_t mtime)
{
    (void)key;
    (void)size;
    (void)mtime;
    (*(int *)ctx)++;
    return RC_OK;
}

static void test_concurrent(void **state)
{
    (void)state;
    SKIP_IF_NEEDED();
    /* One backend shared by several threads: pooled curl handles, staging
     * counters and the breaker are used concurrently. */
    struct storage *st = open_real("conc/", false, 0);
    pthread_t th[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){st, i, 0};
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].errors, 0);
    }
    int n = 0;
    struct errbuf eb = {0};
    assert_int_equal(storage_list(st, "db/conc/", count_only, &n, &eb), RC_OK);
    assert_int_equal(n, 24);
    assert_false(storage_s3_circuit_open(st));
    storage_free(&st);
}

static void test_aws_cli_crosscheck(void **state)
{
    (void)state;
    SKIP_IF_NEEDED();
    if (system("command -v aws >/dev/null 2>&1") != 0) {
        print_message("skipped: aws CLI not installed\n");
        skip();
    }
    struct storage *st = open_real("cli/", false, 0);
    put_str(st, "db/c/x.parquet", "hello from arc", 0, RC_OK);
    storage_free(&st);
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_DEFAULT_REGION=us-east-1 "
             "aws --endpoint-url http://127.0.0.1:%d s3api head-object --bucket " BUCKET
             " --key cli/db/c/x.parquet --output text --query ContentLength 2>&1",
             g_port);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char out[256] = "";
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    if (status != 0)
        fail_msg("aws s3api head-object failed: %s", out);
    assert_int_equal(strtol(out, NULL, 10), 14);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_head_get),       cmocka_unit_test(test_list_delete),
        cmocka_unit_test(test_virtual_hosted),     cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_aws_cli_crosscheck),
    };
    return cmocka_run_group_tests(tests, s3rver_setup, s3rver_teardown);
}
