/* Unit tests for util/utf8: sequence lengths, validation, repair. */
#include "test_helpers.h"

#include "util/utf8.h"

#define U(s) ((const unsigned char *)(s))

static void test_seq_len(void **state)
{
    (void)state;
    assert_int_equal(utf8_seq_len(U("a"), 1), 1);
    assert_int_equal(utf8_seq_len(U("\xC3\xA9"), 2), 2);         /* é */
    assert_int_equal(utf8_seq_len(U("\xE2\x82\xAC"), 3), 3);     /* € */
    assert_int_equal(utf8_seq_len(U("\xF0\x9F\x98\x80"), 4), 4); /* 😀 */
    assert_int_equal(utf8_seq_len(U("\xC3"), 1), 0);             /* truncated */
    assert_int_equal(utf8_seq_len(U("\xC0\xAF"), 2), 0);         /* overlong */
    assert_int_equal(utf8_seq_len(U("\xE0\x80\xAF"), 3), 0);     /* overlong */
    assert_int_equal(utf8_seq_len(U("\xED\xA0\x80"), 3), 0);     /* surrogate */
    assert_int_equal(utf8_seq_len(U("\xF4\x90\x80\x80"), 4), 0); /* > U+10FFFF */
    assert_int_equal(utf8_seq_len(U("\x80"), 1), 0);             /* continuation */
    assert_int_equal(utf8_seq_len(U("\xC3\x28"), 2), 0);         /* bad continuation */
}

static void test_valid(void **state)
{
    (void)state;
    const char *ok = "plain ascii longer than eight bytes, then caf\xC3\xA9 \xE2\x82\xAC";
    assert_true(utf8_valid(U(ok), strlen(ok)));
    assert_true(utf8_valid(U(""), 0));
    const char *bad = "0123456789abcdef\xFF";
    assert_false(utf8_valid(U(bad), strlen(bad)));
    assert_false(utf8_valid(U("abc\xED\xA0\x80"), 6));
}

static void test_repair(void **state)
{
    (void)state;
    struct strbuf sb;
    strbuf_init(&sb, 0);
    utf8_repair(U("a\xFF"
                  "b\xC3\xA9\xC3"),
                6, &sb);
    assert_int_equal(sb.len, 10);
    assert_memory_equal(sb.data,
                        "a\xEF\xBF\xBD"
                        "b\xC3\xA9\xEF\xBF\xBD",
                        10);
    utf8_repair(U("\xED\xA0\x80"), 3, &sb); /* each byte of a surrogate replaced */
    assert_int_equal(sb.len, 9);
    assert_true(utf8_valid(U(sb.data), sb.len));
    strbuf_cleanup(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seq_len),
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_repair),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
