/* The S3 backend's multipart upload against s3rver (s3rver_harness.h): a
 * 100 MB file (7 parts of 16 MiB, the last one short, every MiB distinct)
 * is uploaded with the default threshold and part size, then checked with
 * HEAD, a ranged GET across a part boundary and a full download compared by
 * SHA-256. Skipped when node or s3rver is not installed. */
#include "test_helpers.h"

#include "s3rver_harness.h"

/* MiB number i of the test file: one pseudo-random MiB, stamped with i at
 * both ends so that every MiB (and every part) differs. */
static unsigned char g_base[1 << 20];

static void make_base(void)
{
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i + 8 <= sizeof(g_base); i += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(g_base + i, &x, 8);
    }
}

static void block_of(unsigned char *out, uint64_t i)
{
    memcpy(out, g_base, sizeof(g_base));
    memcpy(out, &i, 8);
    memcpy(out + sizeof(g_base) - 8, &i, 8);
}

static void test_multipart_100mb(void **state)
{
    (void)state;
    SKIP_IF_NEEDED();
    struct storage *st = open_real("arc/", false, 0);
    const char *key = "db/big/2025/01/15/14/big_compacted.parquet";
    char path[512];
    struct errbuf eb = {0};
    assert_int_equal(storage_staging_path(st, key, path, sizeof(path), &eb), RC_OK);
    /* 100 MB + 12345 bytes: 7 parts of 16 MiB, the last one short. */
    const size_t total = 100u * 1000 * 1000 + 12345;
    static unsigned char block[1 << 20];
    make_base();
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    for (size_t off = 0, i = 0; off < total; off += sizeof(block), i++) {
        block_of(block, i);
        size_t n = total - off < sizeof(block) ? total - off : sizeof(block);
        assert_int_equal(write(fd, block, n), (ssize_t)n);
    }
    close(fd);
    unsigned char want[32], got_md[32];
    sha256_file(path, want);

    int64_t t0 = time_mono_ms();
    uint64_t bytes = 0;
    assert_int_equal(storage_put_file(st, path, key, 0, &bytes, &eb), RC_OK);
    print_message("100 MB multipart upload: %lld ms\n", (long long)(time_mono_ms() - t0));
    assert_int_equal(bytes, total);
    assert_true(access(path, F_OK) != 0);

    struct storage_object_info info;
    assert_int_equal(storage_head(st, key, &info, &eb), RC_OK);
    assert_int_equal(info.size_bytes, total);

    /* A range across the first part boundary (16 MiB). */
    unsigned char r[64];
    size_t got = 0;
    uint64_t off = (16u << 20) - 32;
    assert_int_equal(storage_read_range(st, key, off, r, sizeof(r), &got, &eb), RC_OK);
    assert_int_equal(got, sizeof(r));
    block_of(block, 15);
    assert_memory_equal(r, block + sizeof(block) - 32, 32);
    block_of(block, 16);
    assert_memory_equal(r + 32, block, 32);

    char local[256];
    snprintf(local, sizeof(local), "%s/big.parquet", g_root);
    t0 = time_mono_ms();
    assert_int_equal(storage_get_file(st, key, local, &eb), RC_OK);
    print_message("100 MB download: %lld ms\n", (long long)(time_mono_ms() - t0));
    sha256_file(local, got_md);
    assert_memory_equal(got_md, want, 32);
    unlink(local);
    assert_int_equal(storage_delete(st, key, &eb), RC_OK);
    assert_int_equal(storage_head(st, key, &info, &eb), RC_NOT_FOUND);
    storage_free(&st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multipart_100mb),
    };
    return cmocka_run_group_tests(tests, s3rver_setup, s3rver_teardown);
}
