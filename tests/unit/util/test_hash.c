/*
 * tests/unit/util/test_hash.c — the string hashes of util/hash.h: FNV-1a
 * against its published vectors, hash_words for what its callers rely on
 * (every byte counts, the length counts, the seed counts, no read past n).
 */
#include "test_helpers.h"

#include <stdlib.h>
#include <string.h>

#include "util/hash.h"

static void test_fnv1a_vectors(void **state)
{
    (void)state;
    assert_int_equal(hash_fnv1a_bytes("", 0), 0x811c9dc5u);
    assert_int_equal(hash_fnv1a_bytes("a", 1), 0xe40c292cu);
    assert_int_equal(hash_fnv1a_bytes("foobar", 6), 0xbf9cf968u);
    /* Continuing a hash is hashing the concatenation. */
    assert_int_equal(hash_fnv1a("bar", 3, hash_fnv1a_bytes("foo", 3)),
                     hash_fnv1a_bytes("foobar", 6));
}

/* Changing any one byte, for every length up to three words, changes the
 * hash: the 1..7-byte tail is read as overlapping loads or first, middle
 * and last byte, which between them cover every byte. */
static void test_words_every_byte_counts(void **state)
{
    (void)state;
    unsigned char s[24];
    for (size_t n = 1; n <= sizeof(s); n++) {
        for (size_t i = 0; i < n; i++)
            s[i] = (unsigned char)('a' + i);
        uint64_t h = hash_words(s, n, 42);
        for (size_t i = 0; i < n; i++) {
            s[i] ^= 0x20;
            assert_true(hash_words(s, n, 42) != h);
            s[i] ^= 0x20;
        }
        assert_true(hash_words(s, n, 43) != h); /* the seed counts */
    }
}

/* Prefixes hash differently (the length is mixed in), including zeros. */
static void test_words_length_counts(void **state)
{
    (void)state;
    static const unsigned char zeros[16];
    for (size_t a = 0; a <= sizeof(zeros); a++)
        for (size_t b = a + 1; b <= sizeof(zeros); b++)
            assert_true(hash_words(zeros, a, 7) != hash_words(zeros, b, 7));
}

/* Only the n bytes are read: the same string hashes alike whatever follows
 * it, and at the very end of an exact allocation (AddressSanitizer reports
 * a read past it). */
static void test_words_reads_only_n_bytes(void **state)
{
    (void)state;
    for (size_t n = 0; n <= 17; n++) {
        unsigned char *p = malloc(n ? n : 1);
        assert_non_null(p);
        memset(p, 'x', n);
        unsigned char longer[32];
        memset(longer, 'x', n);
        memset(longer + n, 'y', sizeof(longer) - n);
        assert_true(hash_words(p, n, 1) == hash_words(longer, n, 1));
        free(p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fnv1a_vectors),
        cmocka_unit_test(test_words_every_byte_counts),
        cmocka_unit_test(test_words_length_counts),
        cmocka_unit_test(test_words_reads_only_n_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
