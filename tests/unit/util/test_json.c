/* Unit tests for util/json: valid documents, every error kind, depth limit,
 * unicode escapes and surrogates, integers vs doubles. */
#include "test_helpers.h"

#include <math.h>

#include "util/json.h"

static struct json_value *parse_ok(const char *s)
{
    struct json_value *v = NULL;
    struct errbuf eb;
    errbuf_clear(&eb);
    int rc = json_parse(s, strlen(s), &v, &eb);
    if (rc != RC_OK)
        fprintf(stderr, "unexpected parse error for %s: %s\n", s, eb.msg);
    assert_int_equal(rc, RC_OK);
    assert_non_null(v);
    return v;
}

/* Parses s expecting failure; returns the message (static buffer). */
static const char *parse_fail_n(const char *s, size_t n)
{
    static struct errbuf eb;
    struct json_value *v = (struct json_value *)&eb; /* must be reset to NULL */
    errbuf_clear(&eb);
    int rc = json_parse(s, n, &v, &eb);
    assert_int_equal(rc, RC_PARSE);
    assert_null(v);
    assert_int_equal(eb.rc, RC_PARSE);
    return eb.msg;
}

static const char *parse_fail(const char *s)
{
    return parse_fail_n(s, strlen(s));
}

static void test_scalars(void **state)
{
    (void)state;
    struct json_value *v = parse_ok("null");
    assert_int_equal(json_type(v), JSON_NULL);
    assert_true(json_is_null(v));
    json_free(&v);
    assert_null(v);

    bool b = false;
    v = parse_ok(" true ");
    assert_true(json_as_bool(v, &b));
    assert_true(b);
    json_free(&v);
    v = parse_ok("false");
    assert_true(json_as_bool(v, &b));
    assert_false(b);
    int64_t i;
    assert_false(json_as_i64(v, &i));
    assert_null(json_as_str(v, NULL));
    json_free(&v);

    size_t len = 0;
    v = parse_ok("\"hello\"");
    assert_string_equal(json_as_str(v, &len), "hello");
    assert_int_equal(len, 5);
    assert_false(json_as_bool(v, &b));
    json_free(&v);

    v = parse_ok("\"\"");
    assert_string_equal(json_as_str(v, &len), "");
    assert_int_equal(len, 0);
    json_free(&v);
}

static void test_numbers(void **state)
{
    (void)state;
    struct {
        const char *text;
        bool is_int;
        int64_t i;
        double d;
    } cases[] = {
        {"0", true, 0, 0.0},
        {"-0", true, 0, -0.0},
        {"42", true, 42, 42.0},
        {"-17", true, -17, -17.0},
        {"9223372036854775807", true, INT64_MAX, 9223372036854775807.0},
        {"-9223372036854775808", true, INT64_MIN, -9223372036854775808.0},
        {"9223372036854775808", false, 0, 9223372036854775808.0},
        {"-9223372036854775809", false, 0, -9223372036854775809.0},
        {"123456789012345678901234567890", false, 0, 1.2345678901234568e29},
        {"1.5", false, 0, 1.5},
        {"-0.25", false, 0, -0.25},
        {"5.0", false, 0, 5.0},
        {"1e3", false, 0, 1000.0},
        {"1E-2", false, 0, 0.01},
        {"2.5e+2", false, 0, 250.0},
        {"1e-400", false, 0, 0.0},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        struct json_value *v = parse_ok(cases[k].text);
        assert_int_equal(json_type(v), JSON_NUMBER);
        int64_t i = 12345;
        double d = -1;
        assert_int_equal(json_as_i64(v, &i), cases[k].is_int);
        if (cases[k].is_int)
            assert_int_equal(i, cases[k].i);
        else
            assert_int_equal(i, 12345); /* untouched */
        assert_true(json_as_f64(v, &d));
        assert_true(d == cases[k].d);
        json_free(&v);
    }
    /* -0 keeps its sign as a double. */
    struct json_value *v = parse_ok("-0");
    double d;
    assert_true(json_as_f64(v, &d));
    assert_true(signbit(d));
    json_free(&v);
}

static void test_containers(void **state)
{
    (void)state;
    const char *doc = "{\"sql\": \"SELECT 1\", \"limit\": 10, \"nested\": {\"a\": [1, 2.5, "
                      "\"x\", true, null, [], {}]}, \"dup\": 1, \"dup\": 2, \"\": \"empty\"}";
    struct json_value *v = parse_ok(doc);
    assert_int_equal(json_type(v), JSON_OBJECT);
    assert_int_equal(json_obj_len(v), 6);
    assert_string_equal(json_as_str(json_obj_get(v, "sql"), NULL), "SELECT 1");
    int64_t i;
    assert_true(json_as_i64(json_obj_get(v, "limit"), &i));
    assert_int_equal(i, 10);
    /* duplicate keys: last wins */
    assert_true(json_as_i64(json_obj_get(v, "dup"), &i));
    assert_int_equal(i, 2);
    assert_string_equal(json_as_str(json_obj_get(v, ""), NULL), "empty");
    assert_null(json_obj_get(v, "missing"));
    assert_null(json_obj_get(v, "SQL")); /* case-sensitive */
    /* order is kept */
    size_t klen;
    assert_string_equal(json_obj_key_at(v, 0, &klen), "sql");
    assert_int_equal(klen, 3);
    assert_string_equal(json_obj_key_at(v, 3, NULL), "dup");
    assert_true(json_as_i64(json_obj_val_at(v, 3), &i));
    assert_int_equal(i, 1);
    assert_null(json_obj_key_at(v, 6, NULL));
    assert_null(json_obj_val_at(v, 6));

    const struct json_value *a = json_obj_get(json_obj_get(v, "nested"), "a");
    assert_int_equal(json_type(a), JSON_ARRAY);
    assert_int_equal(json_arr_len(a), 7);
    assert_true(json_as_i64(json_arr_at(a, 0), &i));
    assert_int_equal(i, 1);
    double d;
    assert_true(json_as_f64(json_arr_at(a, 1), &d));
    assert_true(d == 2.5);
    assert_string_equal(json_as_str(json_arr_at(a, 2), NULL), "x");
    bool b;
    assert_true(json_as_bool(json_arr_at(a, 3), &b) && b);
    assert_true(json_is_null(json_arr_at(a, 4)));
    assert_int_equal(json_type(json_arr_at(a, 5)), JSON_ARRAY);
    assert_int_equal(json_arr_len(json_arr_at(a, 5)), 0);
    assert_int_equal(json_type(json_arr_at(a, 6)), JSON_OBJECT);
    assert_int_equal(json_obj_len(json_arr_at(a, 6)), 0);
    assert_null(json_arr_at(a, 7));

    /* accessors on wrong types and NULL */
    assert_null(json_obj_get(a, "x"));
    assert_null(json_arr_at(v, 0));
    assert_int_equal(json_arr_len(v), 0);
    assert_int_equal(json_obj_len(a), 0);
    assert_null(json_obj_get(NULL, "x"));
    assert_int_equal(json_type(NULL), JSON_NULL);
    assert_false(json_is_null(NULL));
    assert_false(json_as_f64(NULL, &d));
    assert_false(json_as_i64(json_obj_get(v, "sql"), &i));
    json_free(&v);
    json_free(&v);   /* NULL is fine */
    json_free(NULL); /* so is a NULL handle */
}

static void test_whitespace_and_big_document(void **state)
{
    (void)state;
    struct json_value *v = parse_ok(" \t\r\n[ 1 ,\n 2 ]\n\t ");
    assert_int_equal(json_arr_len(v), 2);
    json_free(&v);

    /* A document large enough to need several arena blocks. */
    size_t n = 20000;
    char *buf = malloc(n * 16 + 16);
    size_t o = 0;
    buf[o++] = '[';
    for (size_t k = 0; k < n; k++)
        o += (size_t)snprintf(buf + o, n * 16 + 16 - o, "%s{\"k\":%zu}", k ? "," : "", k);
    buf[o++] = ']';
    struct errbuf eb;
    errbuf_clear(&eb);
    assert_int_equal(json_parse(buf, o, &v, &eb), RC_OK);
    assert_int_equal(json_arr_len(v), n);
    int64_t i;
    assert_true(json_as_i64(json_obj_get(json_arr_at(v, n - 1), "k"), &i));
    assert_int_equal(i, (int64_t)n - 1);
    json_free(&v);
    free(buf);
}

static void test_length_is_respected(void **state)
{
    (void)state;
    /* Only the first 4 bytes are the document; the rest must not be read. */
    struct json_value *v = NULL;
    struct errbuf eb;
    errbuf_clear(&eb);
    assert_int_equal(json_parse("[1] garbage", 3, &v, &eb), RC_OK);
    assert_int_equal(json_arr_len(v), 1);
    json_free(&v);
    /* Embedded NUL inside the given length is garbage. */
    const char *msg = parse_fail_n("[1]\0", 4);
    assert_non_null(strstr(msg, "byte 3"));
}

static void test_escapes_and_unicode(void **state)
{
    (void)state;
    size_t len;
    struct json_value *v = parse_ok("\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"");
    assert_string_equal(json_as_str(v, &len), "a\"b\\c/d\b\f\n\r\t");
    json_free(&v);

    v = parse_ok("\"\\u0041\\u00e9\\u20AC\"");
    assert_string_equal(json_as_str(v, &len), "A\xc3\xa9\xe2\x82\xac");
    assert_int_equal(len, 6);
    json_free(&v);

    /* Surrogate pair: U+1F600 */
    v = parse_ok("\"\\ud83d\\ude00\"");
    assert_string_equal(json_as_str(v, &len), "\xf0\x9f\x98\x80");
    assert_int_equal(len, 4);
    json_free(&v);

    /* Raw UTF-8 passes through */
    v = parse_ok("\"h\xc3\xa9llo \xf0\x9f\x98\x80\"");
    assert_string_equal(json_as_str(v, &len), "h\xc3\xa9llo \xf0\x9f\x98\x80");
    json_free(&v);

    /* \u0000 is kept, length tells */
    v = parse_ok("\"a\\u0000b\"");
    const char *s = json_as_str(v, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(s, "a\0b", 3);
    json_free(&v);

    /* Escaped keys are unescaped for lookup */
    v = parse_ok("{\"k\\u00e9y\": 1}");
    int64_t i;
    assert_true(json_as_i64(json_obj_get(v, "k\xc3\xa9y"), &i));
    assert_int_equal(i, 1);
    json_free(&v);
}

static void assert_fails_at(const char *doc, const char *what, size_t byte)
{
    const char *msg = parse_fail(doc);
    char want[64];
    snprintf(want, sizeof(want), "at byte %zu:", byte);
    if (!strstr(msg, want) || !strstr(msg, what))
        fprintf(stderr, "doc %s: message '%s', wanted '%s' and '%s'\n", doc, msg, want, what);
    assert_non_null(strstr(msg, want));
    assert_non_null(strstr(msg, what));
}

static void test_errors(void **state)
{
    (void)state;
    assert_fails_at("", "unexpected end", 0);
    assert_fails_at("   ", "unexpected end", 3);
    assert_fails_at("[1] x", "trailing characters", 4);
    assert_fails_at("{} {}", "trailing characters", 3);
    assert_fails_at("NaN", "unexpected character", 0);
    assert_fails_at("[Infinity]", "unexpected character", 1);
    assert_fails_at("-Infinity", "invalid number", 0);
    assert_fails_at("[nan]", "unexpected character", 1);
    assert_fails_at("tru", "unexpected character", 0);
    assert_fails_at("nul", "unexpected character", 0);
    assert_fails_at("01", "leading zeros", 0);
    assert_fails_at("[-012]", "leading zeros", 1);
    assert_fails_at("+1", "unexpected character", 0);
    assert_fails_at(".5", "unexpected character", 0);
    assert_fails_at("1.", "expected digit after decimal point", 2);
    assert_fails_at("1.e5", "expected digit after decimal point", 2);
    assert_fails_at("1e", "expected digit in exponent", 2);
    assert_fails_at("1e+", "expected digit in exponent", 3);
    assert_fails_at("-", "invalid number", 0);
    assert_fails_at("1e400", "out of range", 0);
    assert_fails_at("-1e400", "out of range", 0);
    assert_fails_at("0x10", "trailing characters", 1);
    assert_fails_at("\"abc", "unterminated string", 0);
    assert_fails_at("\"abc\\", "unterminated string", 0);
    assert_fails_at("\"a\tb\"", "unescaped control character", 2);
    assert_fails_at("\"a\nb\"", "unescaped control character", 2);
    assert_fails_at("\"\\x41\"", "invalid escape", 1);
    assert_fails_at("\"\\'\"", "invalid escape", 1);
    assert_fails_at("\"\\u12\"", "invalid \\u escape", 1);
    assert_fails_at("\"\\u12G4\"", "invalid \\u escape", 1);
    assert_fails_at("\"\\ud83d\"", "unpaired high surrogate", 1);
    assert_fails_at("\"\\ud83dx\"", "unpaired high surrogate", 1);
    assert_fails_at("\"\\ud83d\\u0041\"", "unpaired high surrogate", 1);
    assert_fails_at("\"\\ude00\"", "unpaired low surrogate", 1);
    assert_fails_at("\"\xff\"", "invalid UTF-8", 1);
    assert_fails_at("\"\xc0\xaf\"", "invalid UTF-8", 1);         /* overlong '/' */
    assert_fails_at("\"\xe0\x80\xaf\"", "invalid UTF-8", 1);     /* overlong */
    assert_fails_at("\"\xed\xa0\x80\"", "invalid UTF-8", 1);     /* CESU surrogate */
    assert_fails_at("\"\xf4\x90\x80\x80\"", "invalid UTF-8", 1); /* > U+10FFFF */
    assert_fails_at("\"ab\xe2\x82\"", "invalid UTF-8", 3);       /* truncated */
    assert_fails_at("[1,]", "trailing comma in array", 3);
    assert_fails_at("[1 2]", "expected ',' or ']'", 3);
    assert_fails_at("[1", "unterminated array", 2);
    assert_fails_at("[", "unexpected end", 1);
    assert_fails_at("{\"a\":1,}", "trailing comma in object", 7);
    assert_fails_at("{\"a\" 1}", "expected ':'", 5);
    assert_fails_at("{a:1}", "expected string key", 1);
    assert_fails_at("{\"a\":1", "unterminated object", 6);
    assert_fails_at("{\"a\":1 \"b\":2}", "expected ',' or '}'", 7);
    assert_fails_at("{\"a\":}", "unexpected character", 5);
    assert_fails_at("[1,,2]", "unexpected character", 3);
    assert_fails_at("// c\n1", "unexpected character", 0);
    assert_fails_at("\xef\xbb\xbf{}", "unexpected character", 0); /* BOM */
    assert_fails_at("'a'", "unexpected character", 0);
}

static void test_depth_limit(void **state)
{
    (void)state;
    char buf[2 * (JSON_MAX_DEPTH + 1) + 1];
    /* Exactly 64 levels parse. */
    for (int k = 0; k < JSON_MAX_DEPTH; k++) {
        buf[k] = '[';
        buf[JSON_MAX_DEPTH + k] = ']';
    }
    struct json_value *v = NULL;
    struct errbuf eb;
    errbuf_clear(&eb);
    assert_int_equal(json_parse(buf, 2 * JSON_MAX_DEPTH, &v, &eb), RC_OK);
    const struct json_value *c = v;
    for (int k = 0; k < JSON_MAX_DEPTH - 1; k++)
        c = json_arr_at(c, 0);
    assert_int_equal(json_type(c), JSON_ARRAY);
    assert_int_equal(json_arr_len(c), 0);
    json_free(&v);

    /* 65 levels fail, naming the offset of the 65th bracket. */
    for (int k = 0; k <= JSON_MAX_DEPTH; k++) {
        buf[k] = '[';
        buf[JSON_MAX_DEPTH + 1 + k] = ']';
    }
    const char *msg = parse_fail_n(buf, 2 * (JSON_MAX_DEPTH + 1));
    assert_non_null(strstr(msg, "byte 64:"));
    assert_non_null(strstr(msg, "nesting"));

    /* Objects count too, and a very deep hostile input fails fast. */
    size_t n = 100000;
    char *deep = malloc(n * 5);
    size_t o = 0;
    for (size_t k = 0; k < n; k++) {
        memcpy(deep + o, "{\"a\":", 5);
        o += 5;
    }
    msg = parse_fail_n(deep, o);
    assert_non_null(strstr(msg, "nesting"));
    free(deep);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_containers),
        cmocka_unit_test(test_whitespace_and_big_document),
        cmocka_unit_test(test_length_is_respected),
        cmocka_unit_test(test_escapes_and_unicode),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_depth_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
