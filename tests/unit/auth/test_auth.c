/* Unit tests for auth/: token extraction (every form of SPEC §5.2), the
 * allowlist (§5.3), permissions (§5.4), field rules (§5.5), verification
 * with the cache (§5.6), storage (§5.7: no clear-text token in the file,
 * PBKDF2 format, 0600), bootstrap (§5.8), the creation rate limit, the
 * background change watcher and the `arc token` command line. */
#include "test_helpers.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "auth/auth.h"
#include "metrics/metrics.h"
#include "util/config.h"
#include "util/json.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

/* --- fixtures ------------------------------------------------------------------ */

static int64_t fake_now_us = INT64_C(1736949600) * US_PER_SEC; /* 2025-01-15T14:00:00Z */
static int64_t fake_mono = 1000000;
static int64_t clock_now(void)
{
    return fake_now_us;
}
static int64_t clock_mono(void)
{
    return fake_mono;
}

static char *default_allow[] = {
    "/", "/health", "/ready", "/ping", "/api/v1/auth/verify", "/metrics", "/api/v1/metrics*"};

struct fx {
    char dir[64];
    char db[128];
    struct config_auth cfg;
    FILE *boot; /* captures bootstrap output */
};

static struct fx F;

static int setup(void **state)
{
    (void)state;
    memset(&F, 0, sizeof(F));
    snprintf(F.dir, sizeof(F.dir), "/tmp/arc-auth-XXXXXX");
    assert_non_null(mkdtemp(F.dir));
    snprintf(F.db, sizeof(F.db), "%s/sub/dir/arc.db", F.dir);
    F.cfg.enabled = true;
    F.cfg.bootstrap_token = "";
    F.cfg.force_bootstrap = false;
    F.cfg.allowlist.items = default_allow;
    F.cfg.allowlist.count = sizeof(default_allow) / sizeof(default_allow[0]);
    F.cfg.cache_ttl = 30;
    F.cfg.max_cache_size = 1000;
    F.cfg.db_path = F.db;
    F.boot = tmpfile();
    assert_non_null(F.boot);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", F.dir);
    assert_int_equal(system(cmd), 0);
    if (F.boot)
        fclose(F.boot);
    return 0;
}

static struct auth_options test_opts(void)
{
    struct auth_options o = {0};
    o.now_us = clock_now;
    o.mono_ms = clock_mono;
    o.pbkdf2_iterations = 1000; /* fast; the format test uses the real count */
    o.bootstrap_out = F.boot;
    o.no_background = true;
    return o;
}

static struct auth *open_auth(void)
{
    struct auth_options o = test_opts();
    struct auth *a = NULL;
    struct errbuf eb;
    errbuf_clear(&eb);
    int rc = auth_open_opts(&F.cfg, &o, &a, &eb);
    if (rc != RC_OK)
        print_error("auth_open: %s\n", eb.msg);
    assert_int_equal(rc, RC_OK);
    return a;
}

/* Reads everything written to the bootstrap capture so far. */
static char *boot_text(void)
{
    static char buf[8192];
    fflush(F.boot);
    long end = ftell(F.boot);
    rewind(F.boot);
    size_t n = fread(buf, 1, sizeof(buf) - 1, F.boot);
    buf[n] = '\0';
    fseek(F.boot, end, SEEK_SET);
    return buf;
}

/* The generated token from the bootstrap banner (the indented line). */
static void boot_token(char out[64])
{
    const char *t = boot_text();
    const char *p = strstr(t, "\n     ");
    assert_non_null(p);
    p += 6;
    size_t n = strcspn(p, "\n");
    assert_int_equal(n, AUTH_TOKEN_GEN_CHARS);
    memcpy(out, p, n);
    out[n] = '\0';
}

static char *create(struct auth *a, const char *name, unsigned perms, int64_t *id)
{
    struct auth_token_spec s = {0};
    s.name = name;
    s.set_perms = true;
    s.perms = perms;
    char *secret = NULL;
    struct auth_token_info info;
    struct errbuf eb;
    errbuf_clear(&eb);
    int rc = auth_token_create(a, &s, &secret, &info, &eb);
    if (rc != RC_OK)
        print_error("create %s: %s\n", name, eb.msg);
    assert_int_equal(rc, RC_OK);
    if (id)
        *id = info.id;
    auth_token_info_cleanup(&info);
    return secret;
}

static int check(struct auth *a, const char *token, unsigned needed)
{
    struct auth_principal p;
    return auth_check(a, token, needed, &p);
}

/* --- extraction (SPEC §5.2) -------------------------------------------------------- */

static enum auth_extract_result ex(const char *authz, const char *key, const char *p, char *out,
                                   enum auth_cred_source *src)
{
    struct auth_creds c = {authz, key, p};
    return auth_extract_token(&c, out, AUTH_TOKEN_MAX_BYTES + 1, src);
}

static void test_extract_forms(void **state)
{
    (void)state;
    char t[AUTH_TOKEN_MAX_BYTES + 1];
    enum auth_cred_source src;

    assert_int_equal(ex("Bearer abc123", NULL, NULL, t, &src), AUTH_CREDS_OK);
    assert_string_equal(t, "abc123");
    assert_int_equal(src, AUTH_SRC_AUTHORIZATION);
    assert_int_equal(ex("bearer   abc123  ", NULL, NULL, t, &src), AUTH_CREDS_OK);
    assert_string_equal(t, "abc123");
    assert_int_equal(ex("Token influx-tok", NULL, NULL, t, &src), AUTH_CREDS_OK);
    assert_string_equal(t, "influx-tok");
    assert_int_equal(ex("TOKEN x", NULL, NULL, t, &src), AUTH_CREDS_OK);
    assert_string_equal(t, "x");
    /* Basic dXNlcjpzZWNyZXQ= is user:secret -> the password. */
    assert_int_equal(ex("Basic dXNlcjpzZWNyZXQ=", NULL, NULL, t, &src), AUTH_CREDS_OK);
    assert_string_equal(t, "secret");
    /* Basic bXl0b2tlbjo= is "mytoken:" -> empty password -> the user. */
    assert_int_equal(ex("Basic bXl0b2tlbjo=", NULL, NULL, t, &src), AUTH_CREDS_OK);
    assert_string_equal(t, "mytoken");
    /* Unpadded base64 is accepted too. */
    assert_int_equal(ex("basic bXl0b2tlbjo", NULL, NULL, t, &src), AUTH_CREDS_OK);
    assert_string_equal(t, "mytoken");
    /* A password containing ':' keeps everything after the first ':'.
     * "u:a:b" = dTphOmI= */
    assert_int_equal(ex("Basic dTphOmI=", NULL, NULL, t, &src), AUTH_CREDS_OK);
    assert_string_equal(t, "a:b");
    /* Bare value. */
    assert_int_equal(ex("rawtokenvalue", NULL, NULL, t, &src), AUTH_CREDS_OK);
    assert_string_equal(t, "rawtokenvalue");
    assert_int_equal(src, AUTH_SRC_AUTHORIZATION);
    /* x-api-key, then p. */
    assert_int_equal(ex(NULL, "key1", "p1", t, &src), AUTH_CREDS_OK);
    assert_string_equal(t, "key1");
    assert_int_equal(src, AUTH_SRC_API_KEY);
    assert_int_equal(ex(NULL, NULL, "p1", t, &src), AUTH_CREDS_OK);
    assert_string_equal(t, "p1");
    assert_int_equal(src, AUTH_SRC_QUERY);
    /* Order: Authorization wins over x-api-key and p. */
    assert_int_equal(ex("Bearer first", "second", "third", t, &src), AUTH_CREDS_OK);
    assert_string_equal(t, "first");
    /* Absent / blank sources are skipped. */
    assert_int_equal(ex("   ", "", "  p2 ", t, &src), AUTH_CREDS_OK);
    assert_string_equal(t, "p2");
    assert_int_equal(src, AUTH_SRC_QUERY);
    assert_int_equal(ex(NULL, NULL, NULL, t, &src), AUTH_CREDS_NONE);
    assert_int_equal(src, AUTH_SRC_NONE);
    assert_int_equal(ex("", " ", "", t, &src), AUTH_CREDS_NONE);
}

static void test_extract_malformed(void **state)
{
    (void)state;
    char t[AUTH_TOKEN_MAX_BYTES + 1];
    enum auth_cred_source src;
    /* Presented but unusable: no fallback to later sources. */
    assert_int_equal(ex("Bearer", "key", NULL, t, &src), AUTH_CREDS_MALFORMED);
    assert_int_equal(ex("Bearer    ", NULL, NULL, t, &src), AUTH_CREDS_MALFORMED);
    assert_int_equal(ex("Basic", NULL, NULL, t, &src), AUTH_CREDS_MALFORMED);
    assert_int_equal(ex("Basic !!!notbase64", NULL, NULL, t, &src), AUTH_CREDS_MALFORMED);
    assert_int_equal(ex("Basic dXNlcg==", NULL, NULL, t, &src),
                     AUTH_CREDS_MALFORMED); /* "user", no ':' */
    assert_int_equal(ex("Basic Og==", NULL, NULL, t, &src), AUTH_CREDS_MALFORMED); /* ":" */
    assert_int_equal(ex("Basic dXNlcjpzZWNyZXQ", NULL, NULL, t, &src),
                     AUTH_CREDS_OK); /* unpadded ok */
    assert_int_equal(ex("Basic dXNlcjpzZWNyZXQ=x", NULL, NULL, t, &src), AUTH_CREDS_MALFORMED);
    assert_int_equal(ex("Basic dXNl=cjpz", NULL, NULL, t, &src), AUTH_CREDS_MALFORMED);
    assert_int_equal(ex("Digest abc", NULL, NULL, t, &src), AUTH_CREDS_MALFORMED);
    assert_int_equal(ex("Bearer a\x01", NULL, NULL, t, &src), AUTH_CREDS_MALFORMED);
    char big[AUTH_TOKEN_MAX_BYTES + 20];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(ex(NULL, big, NULL, t, &src), AUTH_CREDS_MALFORMED);
    assert_int_equal(src, AUTH_SRC_API_KEY);
    /* Exactly the maximum is fine. */
    big[AUTH_TOKEN_MAX_BYTES] = '\0';
    assert_int_equal(ex(NULL, big, NULL, t, &src), AUTH_CREDS_OK);
    assert_int_equal(strlen(t), AUTH_TOKEN_MAX_BYTES);
    /* A too-small output buffer never overflows. */
    struct auth_creds c = {"Bearer 0123456789", NULL, NULL};
    char small[8];
    assert_int_equal(auth_extract_token(&c, small, sizeof(small), NULL), AUTH_CREDS_MALFORMED);
}

static void test_base64(void **state)
{
    (void)state;
    char out[32];
    size_t n = 99;
    assert_true(auth_base64_decode("", 0, out, sizeof(out), &n));
    assert_int_equal(n, 0);
    assert_true(auth_base64_decode("YQ==", 4, out, sizeof(out), &n));
    assert_int_equal(n, 1);
    assert_string_equal(out, "a");
    assert_true(auth_base64_decode("YWI", 3, out, sizeof(out), &n));
    assert_string_equal(out, "ab");
    assert_false(auth_base64_decode("Y", 1, out, sizeof(out), &n));
    assert_false(auth_base64_decode("YR==", 4, out, sizeof(out), &n)); /* non-canonical bits */
    assert_false(auth_base64_decode("YWJj", 4, out, 3, &n));           /* does not fit */
}

/* --- allowlist (SPEC §5.3) -------------------------------------------------------- */

static void test_allowlist(void **state)
{
    (void)state;
    struct config_list l = {default_allow, sizeof(default_allow) / sizeof(default_allow[0])};
    assert_true(auth_allowlist_match(&l, "/"));
    assert_true(auth_allowlist_match(&l, "/health"));
    assert_true(auth_allowlist_match(&l, "/ready"));
    assert_true(auth_allowlist_match(&l, "/ping"));
    assert_true(auth_allowlist_match(&l, "/metrics"));
    assert_true(auth_allowlist_match(&l, "/api/v1/auth/verify"));
    assert_true(auth_allowlist_match(&l, "/api/v1/metrics"));
    assert_true(auth_allowlist_match(&l, "/api/v1/metrics/memory"));
    assert_true(auth_allowlist_match(&l, "/api/v1/metrics/timeseries/system"));
    assert_false(auth_allowlist_match(&l, "/api/v1/metricsX"));
    assert_false(auth_allowlist_match(&l, "/api/v1/metrics-secret"));
    assert_false(auth_allowlist_match(&l, "/healthz"));
    assert_false(auth_allowlist_match(&l, "/metrics/x")); /* exact entry, no '*' */
    assert_false(auth_allowlist_match(&l, "/api/v1/query"));
    assert_false(auth_allowlist_match(&l, "/api/v1/auth/tokens"));
    assert_false(auth_allowlist_match(&l, "/api/v1/auth/verify/x"));
    /* Normalisation before matching. */
    assert_true(auth_allowlist_match(&l, "//health"));
    assert_true(auth_allowlist_match(&l, "/health/"));
    assert_true(auth_allowlist_match(&l, "/./api/v1/./metrics"));
    assert_false(auth_allowlist_match(&l, "/api/v1/metrics/../query"));
    assert_false(auth_allowlist_match(&l, "/api/v1/metrics/../../v1/logs"));
    assert_true(auth_allowlist_match(&l, "/api/v1/query/../metrics/x"));
    assert_true(auth_allowlist_match(&l, "/../../health"));
    /* /api/v1/logs is never public, whatever the list says. */
    char *wide[] = {"*", "/api/v1/logs", "/api/v1/*"};
    struct config_list w = {wide, 3};
    assert_false(auth_allowlist_match(&w, "/api/v1/logs"));
    assert_false(auth_allowlist_match(&w, "/api/v1/logs/x"));
    assert_false(auth_allowlist_match(&w, "/api/v1/metrics/../logs"));
    assert_true(auth_allowlist_match(&w, "/api/v1/logsX")); /* not the logs endpoint */
    assert_true(auth_allowlist_match(&w, "/anything"));
    /* A prefix ending in '/' covers everything under it; spaces trimmed. */
    char *dir[] = {" /api/v2/* ", "", "/exact/"};
    struct config_list d = {dir, 3};
    assert_true(auth_allowlist_match(&d, "/api/v2/write"));
    assert_true(auth_allowlist_match(&d, "/api/v2"));
    assert_false(auth_allowlist_match(&d, "/api/v22"));
    assert_true(auth_allowlist_match(&d, "/exact"));
    assert_false(auth_allowlist_match(&d, "/"));
    struct config_list empty = {NULL, 0};
    assert_false(auth_allowlist_match(&empty, "/health"));

    char norm[64];
    assert_true(auth_path_normalize("/a//b/./c/../d/", norm, sizeof(norm)));
    assert_string_equal(norm, "/a/b/d");
    assert_true(auth_path_normalize("", norm, sizeof(norm)));
    assert_string_equal(norm, "/");
    assert_false(auth_path_normalize("/abcdefgh", norm, 5));
}

/* --- permissions (SPEC §5.4, §5.5) ---------------------------------------------- */

static void test_perms(void **state)
{
    (void)state;
    unsigned m = 0;
    struct errbuf eb;
    errbuf_clear(&eb);
    assert_int_equal(auth_perms_parse("read, WRITE,,Admin ", 19, &m, &eb), RC_OK);
    assert_int_equal(m, AUTH_PERM_READ | AUTH_PERM_WRITE | AUTH_PERM_ADMIN);
    m = 0;
    assert_int_equal(auth_perms_parse("", 0, &m, &eb), RC_OK);
    assert_int_equal(m, 0);
    assert_int_equal(auth_perms_parse("read,superuser", 14, &m, &eb), RC_INVALID);
    assert_non_null(strstr(eb.msg, "superuser"));

    char buf[64];
    auth_perms_format(AUTH_PERM_ALL, buf, sizeof(buf));
    assert_string_equal(buf, "read,write,delete,admin");
    auth_perms_format(AUTH_PERM_DELETE | AUTH_PERM_READ, buf, sizeof(buf));
    assert_string_equal(buf, "read,delete");
    auth_perms_format(0, buf, sizeof(buf));
    assert_string_equal(buf, "");
    assert_string_equal(auth_perm_name(AUTH_PERM_WRITE), "write");

    /* JSON: array or comma string; empty array = none; bad types rejected. */
    const char *cases[] = {"[\"read\",\"Write\"]", "\"read, write\"", "[]", "\"delete\""};
    unsigned want[] = {AUTH_PERM_READ | AUTH_PERM_WRITE, AUTH_PERM_READ | AUTH_PERM_WRITE, 0,
                       AUTH_PERM_DELETE};
    for (size_t i = 0; i < 4; i++) {
        struct json_value *doc = NULL;
        assert_int_equal(json_parse(cases[i], strlen(cases[i]), &doc, &eb), RC_OK);
        unsigned got = 99;
        assert_int_equal(auth_perms_from_json(doc, &got, &eb), RC_OK);
        assert_int_equal(got, want[i]);
        json_free(&doc);
    }
    const char *bad[] = {"[\"read\",\"root\"]", "[1]", "5", "{}", "[\"read,write\"]", "[\"\"]"};
    for (size_t i = 0; i < 6; i++) {
        struct json_value *doc = NULL;
        assert_int_equal(json_parse(bad[i], strlen(bad[i]), &doc, &eb), RC_OK);
        unsigned got = 0;
        errbuf_clear(&eb);
        assert_int_equal(auth_perms_from_json(doc, &got, &eb), RC_INVALID);
        json_free(&doc);
    }

    /* The matrix: admin implies everything, others are independent. */
    const unsigned needs[] = {AUTH_PERM_READ, AUTH_PERM_WRITE, AUTH_PERM_DELETE, AUTH_PERM_ADMIN};
    for (size_t i = 0; i < 4; i++) {
        assert_true(auth_perms_allow(AUTH_PERM_ADMIN, needs[i]));
        assert_false(auth_perms_allow(0, needs[i]));
        for (size_t j = 0; j < 4; j++) {
            if (needs[j] == AUTH_PERM_ADMIN)
                continue;
            assert_int_equal(auth_perms_allow(needs[j], needs[i]), i == j);
        }
    }
    assert_true(auth_perms_allow(0, 0)); /* any valid token */
    assert_false(
        auth_perms_allow(AUTH_PERM_READ | AUTH_PERM_WRITE | AUTH_PERM_DELETE, AUTH_PERM_ADMIN));
}

/* --- durations and request bodies ------------------------------------------------ */

static void test_durations(void **state)
{
    (void)state;
    struct errbuf eb;
    int64_t us = 0;
    assert_int_equal(auth_parse_duration("90m", &us, &eb), RC_OK);
    assert_int_equal(us, 90 * 60 * US_PER_SEC);
    assert_int_equal(auth_parse_duration("24h", &us, &eb), RC_OK);
    assert_int_equal(us, 24 * US_PER_HOUR);
    assert_int_equal(auth_parse_duration("1h30m", &us, &eb), RC_OK);
    assert_int_equal(us, 90 * 60 * US_PER_SEC);
    assert_int_equal(auth_parse_duration("30d", &us, &eb), RC_OK);
    assert_int_equal(us, 30 * US_PER_DAY);
    assert_int_equal(auth_parse_duration("1.5h", &us, &eb), RC_OK);
    assert_int_equal(us, 90 * 60 * US_PER_SEC);
    assert_int_equal(auth_parse_duration("500ms", &us, &eb), RC_OK);
    assert_int_equal(us, 500000);
    assert_int_equal(auth_parse_duration(".5h", &us, &eb), RC_OK);
    assert_int_equal(us, 30 * 60 * US_PER_SEC);
    assert_int_equal(auth_parse_duration("1d12h", &us, &eb), RC_OK);
    assert_int_equal(us, 36 * US_PER_HOUR);
    const char *bad[] = {
        "",       "10", "h", "-1h", "0s", "1x", "1h ", " 1h", "1.h", "5.", "99999999999999d",
        "36601d", "1hh"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        errbuf_clear(&eb);
        if (auth_parse_duration(bad[i], &us, &eb) != RC_INVALID) {
            print_error("accepted '%s'\n", bad[i]);
            fail();
        }
    }
}

static int spec_of(const char *json, bool create, struct auth_token_spec *s, struct errbuf *eb,
                   struct json_value **doc)
{
    assert_int_equal(json_parse(json, strlen(json), doc, eb), RC_OK);
    errbuf_clear(eb);
    return auth_spec_from_json(*doc, create, fake_now_us, s, eb);
}

static void test_spec_from_json(void **state)
{
    (void)state;
    struct auth_token_spec s;
    struct errbuf eb;
    struct json_value *doc = NULL;

    assert_int_equal(
        spec_of("{\"name\":\"t\",\"permissions\":\"read,write\",\"expires_in\":\"24h\","
                "\"description\":\"d\",\"ignored\":1}",
                true, &s, &eb, &doc),
        RC_OK);
    assert_string_equal(s.name, "t");
    assert_string_equal(s.description, "d");
    assert_true(s.set_perms);
    assert_int_equal(s.perms, AUTH_PERM_READ | AUTH_PERM_WRITE);
    assert_true(s.set_expiry && s.has_expiry);
    assert_int_equal(s.expires_at_us, fake_now_us + 24 * US_PER_HOUR);
    json_free(&doc);

    assert_int_equal(
        spec_of("{\"name\":\"t\",\"expires_at\":\"2030-01-01T00:00:00Z\"}", true, &s, &eb, &doc),
        RC_OK);
    assert_int_equal(s.expires_at_us, INT64_C(1893456000) * US_PER_SEC);
    assert_false(s.set_perms);
    json_free(&doc);

    struct {
        const char *json;
        bool create;
        const char *msg;
    } bad[] = {
        {"{}", true, "name is required"},
        {"{\"name\":null}", true, "name is required"},
        {"{\"name\":\"\"}", true, "name must not be empty"},
        {"{\"name\":5}", true, "name must be a string"},
        {"[]", true, "Request body must be a JSON object"},
        {"{\"name\":\"t\",\"expires_in\":\"1h\",\"expires_at\":\"2030-01-01T00:00:00Z\"}", true,
         "not both"},
        {"{\"name\":\"t\",\"expires_in\":\"soon\"}", true, "Invalid expires_in"},
        {"{\"name\":\"t\",\"expires_in\":3600}", true, "duration string"},
        {"{\"name\":\"t\",\"expires_at\":\"tomorrow\"}", true, "RFC 3339"},
        {"{\"name\":\"t\",\"expires_at\":\"2020-01-01T00:00:00Z\"}", true, "in the future"},
        {"{\"name\":\"t\",\"permissions\":[\"god\"]}", true, "Invalid permission 'god'"},
        {"{\"name\":\"t\",\"description\":7}", true, "description must be a string"},
        {"{}", false, "No fields to update"},
        {"{\"unknown\":1}", false, "No fields to update"},
        {"{\"enabled\":\"yes\"}", false, "enabled must be a boolean"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = spec_of(bad[i].json, bad[i].create, &s, &eb, &doc);
        if (rc != RC_INVALID || !strstr(eb.msg, bad[i].msg)) {
            print_error("case %zu %s: rc=%d msg=%s\n", i, bad[i].json, rc, eb.msg);
            fail();
        }
        json_free(&doc);
    }

    /* Name: 100 characters ok (multi-byte counted as one), 101 not. */
    char name[512];
    memset(name, 'n', 100);
    name[100] = '\0';
    assert_int_equal(auth_validate_name(name, 100, &eb), RC_OK);
    name[100] = 'n';
    name[101] = '\0';
    errbuf_clear(&eb);
    assert_int_equal(auth_validate_name(name, 101, &eb), RC_INVALID);
    size_t o = 0;
    for (int i = 0; i < 100; i++) {
        memcpy(name + o, "\xc3\xa9", 2); /* é */
        o += 2;
    }
    name[o] = '\0';
    assert_int_equal(auth_validate_name(name, o, &eb), RC_OK);
    assert_int_equal(auth_validate_name("a\tb", 3, &eb), RC_INVALID);
    assert_int_equal(auth_validate_name("\xff", 1, &eb), RC_INVALID);
    char desc[600];
    memset(desc, 'd', 501);
    assert_int_equal(auth_validate_description(desc, 500, &eb), RC_OK);
    errbuf_clear(&eb);
    assert_int_equal(auth_validate_description(desc, 501, &eb), RC_INVALID);

    /* Update: PATCH fields; explicit null expiry clears it. */
    assert_int_equal(spec_of("{\"expires_at\":null,\"enabled\":false}", false, &s, &eb, &doc),
                     RC_OK);
    assert_true(s.set_expiry);
    assert_false(s.has_expiry);
    assert_true(s.set_enabled);
    assert_false(s.enabled);
    assert_null(s.name);
    json_free(&doc);
}

static void test_token_info_json(void **state)
{
    (void)state;
    struct auth_token_info t = {0};
    t.id = 3;
    t.name = "telegraf";
    t.description = "edge collectors";
    t.perms = AUTH_PERM_WRITE;
    t.created_at_us = INT64_C(1736949600) * US_PER_SEC;
    t.enabled = true;
    struct strbuf sb;
    strbuf_init(&sb, 0);
    struct jsonw w;
    jsonw_init(&w, &sb);
    auth_token_info_write(&w, &t);
    assert_int_equal(jsonw_finish(&w), RC_OK);
    assert_string_equal(sb.data,
                        "{\"id\":3,\"name\":\"telegraf\",\"description\":\"edge collectors\","
                        "\"permissions\":[\"write\"],\"created_at\":\"2025-01-15T14:00:00Z\","
                        "\"last_used_at\":null,\"expires_at\":null,\"enabled\":true}");
    strbuf_cleanup(&sb);
}

/* --- bootstrap and storage (SPEC §5.7, §5.8) ------------------------------------- */

static void test_bootstrap_generated_once(void **state)
{
    (void)state;
    struct auth *a = open_auth();
    char tok[64];
    boot_token(tok);
    const char *text = boot_text();
    assert_non_null(strstr(text, "Authorization: Bearer <token>"));
    /* The value appears exactly once. */
    const char *first = strstr(text, tok);
    assert_non_null(first);
    assert_null(strstr(first + 1, tok));
    for (const char *p = tok; *p; p++)
        assert_true((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_');

    struct auth_principal p;
    assert_int_equal(auth_check(a, tok, AUTH_PERM_ADMIN, &p), RC_OK);
    assert_string_equal(p.name, "admin");
    assert_int_equal(p.perms, AUTH_PERM_ALL);
    assert_false(p.has_expiry);
    auth_close(&a);
    assert_null(a);

    /* Second start: nothing printed, the token still works. */
    size_t before = strlen(boot_text());
    a = open_auth();
    assert_int_equal(strlen(boot_text()), before);
    assert_int_equal(check(a, tok, AUTH_PERM_ADMIN), RC_OK);
    struct auth_token_info *list = NULL;
    size_t n = 0;
    struct errbuf eb;
    assert_int_equal(auth_token_list(a, &list, &n, &eb), RC_OK);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].name, "admin");
    auth_token_list_free(&list, n);
    auth_close(&a);

    /* File mode 0600, parent directories created. */
    struct stat st;
    assert_int_equal(stat(F.db, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

static void test_bootstrap_disabled_auth(void **state)
{
    (void)state;
    F.cfg.enabled = false;
    struct auth *a = open_auth();
    assert_int_equal(strlen(boot_text()), 0);
    assert_false(auth_is_enabled(a));
    struct auth_token_info *list = NULL;
    size_t n = 9;
    struct errbuf eb;
    assert_int_equal(auth_token_list(a, &list, &n, &eb), RC_OK);
    assert_int_equal(n, 0);
    /* Every request is allowed, even without a token. */
    struct auth_creds c = {0};
    struct auth_decision d;
    auth_authorize(a, "/api/v1/auth/tokens", AUTH_PERM_ADMIN, &c, &d);
    assert_int_equal(d.status, 0);
    auth_close(&a);
}

/* Reads the whole file (and returns its size) into a static buffer. */
static size_t slurp(const char *path, char **out)
{
    static char *buf;
    xfree(buf);
    buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        *out = NULL;
        return 0;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    buf = xmalloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    *out = buf;
    return got;
}

static bool file_contains(const char *path, const char *needle)
{
    char *data;
    size_t n = slurp(path, &data);
    return data && memmem(data, n, needle, strlen(needle)) != NULL;
}

static void test_bootstrap_configured_pbkdf2(void **state)
{
    (void)state;
    const char *bt = "operator-chosen-bootstrap-token-0123456789abcdef"; /* 48 chars */
    F.cfg.bootstrap_token = (char *)bt;
    struct auth_options o = test_opts();
    o.pbkdf2_iterations = 0; /* the real 600000 */
    struct auth *a = NULL;
    struct errbuf eb;
    errbuf_clear(&eb);
    assert_int_equal(auth_open_opts(&F.cfg, &o, &a, &eb), RC_OK);
    assert_int_equal(strlen(boot_text()), 0); /* nothing printed for a configured token */
    /* Verifying costs another 600000 iterations (seconds on a loaded CI
     * machine); test_no_clear_text_in_file verifies a configured token. */
    assert_int_equal(check(a, "operator-chosen-bootstrap-token-0123456789abcdeX", 0), RC_UNAUTH);
    auth_close(&a);

    /* The stored verifier: $pbkdf2-sha256$600000$<b64 16-byte salt>$<b64 32-byte key>. */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(F.db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT verifier, lookup_key FROM auth_tokens", -1, &st, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    char ver[256], lookup[64];
    snprintf(ver, sizeof(ver), "%s", (const char *)sqlite3_column_text(st, 0));
    snprintf(lookup, sizeof(lookup), "%s", (const char *)sqlite3_column_text(st, 1));
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);
    const char *prefix = "$pbkdf2-sha256$600000$";
    assert_int_equal(strncmp(ver, prefix, strlen(prefix)), 0);
    char *salt = ver + strlen(prefix);
    char *dollar = strchr(salt, '$');
    assert_non_null(dollar);
    char dec[64];
    size_t n = 0;
    assert_true(auth_base64_decode(salt, (size_t)(dollar - salt), dec, sizeof(dec), &n));
    assert_int_equal(n, 16);
    assert_true(auth_base64_decode(dollar + 1, strlen(dollar + 1), dec, sizeof(dec), &n));
    assert_int_equal(n, 32);
    assert_int_equal(strlen(lookup), 16);
    for (const char *q = lookup; *q; q++)
        assert_true((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f'));
    assert_false(file_contains(F.db, bt));
}

static void test_bootstrap_short_token_fails(void **state)
{
    (void)state;
    F.cfg.bootstrap_token = "too-short-0123456789-0123456789"; /* 31 chars */
    struct auth_options o = test_opts();
    struct auth *a = NULL;
    struct errbuf eb;
    errbuf_clear(&eb);
    assert_int_equal(auth_open_opts(&F.cfg, &o, &a, &eb), RC_INVALID);
    assert_null(a);
    assert_non_null(strstr(eb.msg, "at least 32"));
    assert_null(strstr(eb.msg, "too-short")); /* never echo the secret */
}

static void test_force_bootstrap_recovery(void **state)
{
    (void)state;
    struct auth *a = open_auth(); /* generates "admin" */
    char admin_tok[64];
    boot_token(admin_tok);
    auth_close(&a);

    const char *bt = "recovery-token-value-0123456789abcdefghij";
    F.cfg.bootstrap_token = (char *)bt;
    a = open_auth(); /* tokens exist, no force: nothing happens */
    assert_int_equal(check(a, bt, 0), RC_UNAUTH);
    auth_close(&a);

    F.cfg.force_bootstrap = true;
    uint64_t warns = log_count_at_least(LOG_WARN);
    for (int round = 0; round < 2; round++) {
        a = open_auth();
        struct auth_principal p;
        assert_int_equal(auth_check(a, bt, AUTH_PERM_ADMIN, &p), RC_OK);
        assert_string_equal(p.name, "arc-recovery");
        assert_int_equal(check(a, admin_tok, AUTH_PERM_ADMIN), RC_OK); /* kept */
        struct auth_token_info *list = NULL;
        size_t n = 0;
        struct errbuf eb;
        assert_int_equal(auth_token_list(a, &list, &n, &eb), RC_OK);
        assert_int_equal(n, 2); /* a second start resets, never duplicates */
        assert_string_equal(list[0].name, "admin");
        assert_string_equal(list[1].name, "arc-recovery");
        assert_int_equal(list[1].perms, AUTH_PERM_ALL);
        auth_token_list_free(&list, n);
        auth_close(&a);
    }
    assert_true(log_count_at_least(LOG_WARN) >= warns + 2);
}

static void test_no_clear_text_in_file(void **state)
{
    (void)state;
    const char *bt = "clear-text-bootstrap-token-must-not-leak-0123";
    F.cfg.bootstrap_token = (char *)bt;
    struct auth *a = open_auth();
    char *t1 = create(a, "one", AUTH_PERM_READ, NULL);
    char *t2 = create(a, "two", AUTH_PERM_WRITE, NULL);
    int64_t id3;
    char *t3 = create(a, "three", AUTH_PERM_ALL, &id3);
    char *t4 = NULL;
    struct errbuf eb;
    assert_int_equal(auth_token_rotate(a, id3, &t4, NULL, &eb), RC_OK);
    assert_int_equal(check(a, t1, AUTH_PERM_READ), RC_OK);
    struct auth_principal p;
    assert_int_equal(auth_check(a, bt, AUTH_PERM_ADMIN, &p), RC_OK); /* PBKDF2 verifier */
    assert_string_equal(p.name, "admin");
    assert_int_equal(p.perms, AUTH_PERM_ALL);
    assert_int_equal(check(a, "clear-text-bootstrap-token-must-not-leak-0124", 0), RC_UNAUTH);
    auth_flush_last_used(a);
    /* Check with the connection still open (the -wal file holds recent
     * pages) and after closing (checkpointed into the main file). */
    char wal[160];
    snprintf(wal, sizeof(wal), "%s-wal", F.db);
    const char *secrets[] = {bt, t1, t2, t3, t4};
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < 5; i++) {
            assert_false(file_contains(F.db, secrets[i]));
            assert_false(file_contains(wal, secrets[i]));
        }
        if (pass == 0)
            auth_close(&a);
    }
    /* Sanity: the search itself works (the names are in the file). */
    assert_true(file_contains(F.db, "three"));
    xfree(t1);
    xfree(t2);
    xfree(t3);
    xfree(t4);
}

/* --- verification -------------------------------------------------------------- */

static void test_permission_boundaries(void **state)
{
    (void)state;
    struct auth *a = open_auth();
    const unsigned needs[] = {AUTH_PERM_READ, AUTH_PERM_WRITE, AUTH_PERM_DELETE, AUTH_PERM_ADMIN};
    const char *names[] = {"r", "w", "d", "a"};
    char *tok[4];
    for (size_t i = 0; i < 4; i++)
        tok[i] = create(a, names[i], needs[i], NULL);
    char *none = create(a, "none", 0, NULL);
    for (size_t i = 0; i < 4; i++) {
        for (size_t j = 0; j < 4; j++) {
            int want = (i == j || needs[i] == AUTH_PERM_ADMIN) ? RC_OK : RC_DENIED;
            assert_int_equal(check(a, tok[i], needs[j]), want);
        }
        assert_int_equal(check(a, tok[i], 0), RC_OK);
    }
    for (size_t j = 0; j < 4; j++)
        assert_int_equal(check(a, none, needs[j]), RC_DENIED);
    assert_int_equal(check(a, none, 0), RC_OK);

    /* Decisions and messages. */
    struct auth_decision d;
    struct auth_creds c = {0};
    auth_authorize(a, "/api/v1/write", AUTH_PERM_WRITE, &c, &d);
    assert_int_equal(d.status, 401);
    assert_string_equal(d.message, "Authentication required");
    c.authorization = "Bearer nope";
    auth_authorize(a, "/api/v1/write", AUTH_PERM_WRITE, &c, &d);
    assert_int_equal(d.status, 401);
    assert_string_equal(d.message, "Invalid or expired token");
    c.authorization = "Basic %%%";
    auth_authorize(a, "/api/v1/write", AUTH_PERM_WRITE, &c, &d);
    assert_int_equal(d.status, 401);
    assert_string_equal(d.message, "Invalid or expired token");
    char hdr[128];
    snprintf(hdr, sizeof(hdr), "Token %s", tok[0]);
    c.authorization = hdr;
    auth_authorize(a, "/api/v1/write", AUTH_PERM_WRITE, &c, &d);
    assert_int_equal(d.status, 403);
    assert_string_equal(d.message, "Permission denied: write required");
    auth_authorize(a, "/api/v1/query", AUTH_PERM_READ, &c, &d);
    assert_int_equal(d.status, 0);
    assert_true(d.authenticated);
    assert_string_equal(d.principal.name, "r");
    auth_authorize(a, "/api/v1/logs", AUTH_PERM_ADMIN, &c, &d);
    assert_int_equal(d.status, 403);
    assert_string_equal(d.message, "Permission denied: admin required");
    /* Public path: no token needed; a bad one is not even looked at. */
    c.authorization = "Bearer garbage";
    auth_authorize(a, "/health", 0, &c, &d);
    assert_int_equal(d.status, 0);
    assert_true(d.is_public);
    /* A public route that is not on the allowlist needs any valid token. */
    auth_authorize(a, "/api/v1/metrics-other", 0, &c, &d);
    assert_int_equal(d.status, 401);
    c.authorization = hdr;
    auth_authorize(a, "/api/v1/metrics-other", 0, &c, &d);
    assert_int_equal(d.status, 0);

    for (size_t i = 0; i < 4; i++)
        xfree(tok[i]);
    xfree(none);
    auth_close(&a);
}

static void test_invalid_tokens(void **state)
{
    (void)state;
    struct auth *a = open_auth();
    int64_t id;
    char *t = create(a, "victim", AUTH_PERM_READ, &id);
    assert_int_equal(check(a, t, AUTH_PERM_READ), RC_OK); /* now cached */
    assert_int_equal(check(a, "", 0), RC_UNAUTH);
    assert_int_equal(check(a, "unknown-token", 0), RC_UNAUTH);
    assert_int_equal(auth_check(a, NULL, 0, NULL), RC_UNAUTH);
    char mod[64];
    snprintf(mod, sizeof(mod), "%s", t);
    mod[0] = mod[0] == 'A' ? 'B' : 'A';
    assert_int_equal(check(a, mod, 0), RC_UNAUTH);

    /* Rotate: the old value fails at once (even though it was cached). */
    char *t2 = NULL;
    struct auth_token_info info;
    struct errbuf eb;
    errbuf_clear(&eb);
    assert_int_equal(auth_token_rotate(a, id, &t2, &info, &eb), RC_OK);
    assert_int_equal(info.id, id);
    assert_string_equal(info.name, "victim");
    auth_token_info_cleanup(&info);
    assert_string_not_equal(t, t2);
    assert_int_equal(strlen(t2), AUTH_TOKEN_GEN_CHARS);
    assert_int_equal(check(a, t, AUTH_PERM_READ), RC_UNAUTH);
    assert_int_equal(check(a, t2, AUTH_PERM_READ), RC_OK);

    /* Revoke: disabled -> 401 immediately. */
    assert_int_equal(auth_token_revoke(a, id, &eb), RC_OK);
    assert_int_equal(check(a, t2, AUTH_PERM_READ), RC_UNAUTH);
    assert_int_equal(auth_token_get(a, id, &info, &eb), RC_OK);
    assert_false(info.enabled);
    auth_token_info_cleanup(&info);
    /* Re-enable through update, then delete. */
    struct auth_token_spec up = {0};
    up.set_enabled = true;
    up.enabled = true;
    assert_int_equal(auth_token_update(a, id, &up, NULL, &eb), RC_OK);
    assert_int_equal(check(a, t2, AUTH_PERM_READ), RC_OK);
    assert_int_equal(auth_token_delete(a, id, &eb), RC_OK);
    assert_int_equal(check(a, t2, AUTH_PERM_READ), RC_UNAUTH);
    /* Unknown ids. */
    errbuf_clear(&eb);
    assert_int_equal(auth_token_delete(a, id, &eb), RC_NOT_FOUND);
    assert_int_equal(auth_token_revoke(a, 9999, &eb), RC_NOT_FOUND);
    assert_int_equal(auth_token_get(a, 9999, &info, &eb), RC_NOT_FOUND);
    char *t3 = NULL;
    assert_int_equal(auth_token_rotate(a, 9999, &t3, NULL, &eb), RC_NOT_FOUND);
    assert_null(t3);
    assert_int_equal(auth_token_update(a, 9999, &up, NULL, &eb), RC_NOT_FOUND);
    xfree(t);
    xfree(t2);
    auth_close(&a);
}

static void test_expiry_and_cache_hit(void **state)
{
    (void)state;
    struct auth *a = open_auth();
    struct auth_token_spec s = {0};
    s.name = "short";
    s.set_expiry = s.has_expiry = true;
    s.expires_at_us = fake_now_us + US_PER_HOUR;
    char *t = NULL;
    struct auth_token_info info;
    struct errbuf eb;
    assert_int_equal(auth_token_create(a, &s, &t, &info, &eb), RC_OK);
    assert_int_equal(info.perms, AUTH_PERM_DEFAULT); /* read,write by default */
    assert_true(info.has_expiry);
    assert_int_equal(info.expires_at_us, fake_now_us + US_PER_HOUR);
    auth_token_info_cleanup(&info);

    struct auth_cache_stats st0, st1;
    assert_int_equal(check(a, t, AUTH_PERM_WRITE), RC_OK); /* miss, cached */
    auth_cache_get_stats(a, &st0);
    int64_t saved = fake_now_us;
    fake_now_us += 2 * US_PER_HOUR; /* wall clock only: the cache entry is still fresh */
    assert_int_equal(check(a, t, AUTH_PERM_WRITE), RC_UNAUTH);
    auth_cache_get_stats(a, &st1);
    assert_int_equal(st1.cache_hits, st0.cache_hits + 1); /* it was a hit, and still rejected */
    /* And after the cache is gone, the store says the same. */
    auth_cache_invalidate(a);
    assert_int_equal(check(a, t, AUTH_PERM_WRITE), RC_UNAUTH);
    fake_now_us = saved;
    xfree(t);
    auth_close(&a);
}

/* The event-loop variant never reads the store: a miss is RC_AGAIN (and
 * decides nothing); once a full check cached the token, it answers alone. */
static void test_cache_only_check(void **state)
{
    (void)state;
    struct auth *a = open_auth();
    struct auth_token_spec s = {0};
    s.name = "loop";
    char *t = NULL;
    struct auth_token_info info;
    struct errbuf eb;
    assert_int_equal(auth_token_create(a, &s, &t, &info, &eb), RC_OK);
    auth_token_info_cleanup(&info);
    auth_cache_invalidate(a);
    struct auth_creds c = {.x_api_key = t};
    struct auth_creds unknown = {.x_api_key = "no-such-token"};
    struct auth_decision d;
    /* Not cached, known or not: nothing decided without the store. */
    auth_authorize_cached(a, "/api/v1/write", AUTH_PERM_WRITE, &unknown, &d);
    assert_true(d.needs_store);
    assert_int_equal(d.status, 0);
    auth_authorize_cached(a, "/api/v1/write", AUTH_PERM_WRITE, &c, &d);
    assert_true(d.needs_store);
    assert_int_equal(d.status, 0);
    assert_false(d.authenticated);
    auth_authorize(a, "/api/v1/write", AUTH_PERM_WRITE, &c, &d); /* reads the store, caches */
    assert_false(d.needs_store);
    assert_true(d.authenticated);
    auth_authorize_cached(a, "/api/v1/write", AUTH_PERM_WRITE, &c, &d);
    assert_false(d.needs_store);
    assert_true(d.authenticated);
    assert_int_equal(d.status, 0);
    /* Cached, but without the permission: denied from the cache too. */
    auth_authorize_cached(a, "/api/v1/admin", AUTH_PERM_ADMIN, &c, &d);
    assert_false(d.needs_store);
    assert_int_equal(d.status, 403);
    /* Requests without usable credentials need no store either. */
    struct auth_creds none = {0};
    auth_authorize_cached(a, "/api/v1/write", AUTH_PERM_WRITE, &none, &d);
    assert_false(d.needs_store);
    assert_int_equal(d.status, 401);
    xfree(t);
    auth_close(&a);
}

static void test_cache_ttl_lru_stats(void **state)
{
    (void)state;
    F.cfg.cache_ttl = 1;
    F.cfg.max_cache_size = 2;
    struct auth *a = open_auth();
    char *t1 = create(a, "c1", AUTH_PERM_READ, NULL);
    char *t2 = create(a, "c2", AUTH_PERM_READ, NULL);
    char *t3 = create(a, "c3", AUTH_PERM_READ, NULL);
    auth_cache_invalidate(a);
    struct auth_cache_stats s;
    auth_cache_get_stats(a, &s);
    uint64_t h0 = s.cache_hits, m0 = s.cache_misses;
    double mh0 = metrics_family_total("arc_auth_cache_hits_total");
    assert_int_equal(s.cache_ttl_seconds, 1);
    assert_int_equal(s.max_cache_size, 2);

    assert_int_equal(check(a, t1, AUTH_PERM_READ), RC_OK); /* miss */
    assert_int_equal(check(a, t1, AUTH_PERM_READ), RC_OK); /* hit */
    auth_cache_get_stats(a, &s);
    assert_int_equal(s.cache_hits, h0 + 1);
    assert_int_equal(s.cache_misses, m0 + 1);
    assert_int_equal(s.cache_size, 1);
    assert_true(metrics_family_total("arc_auth_cache_hits_total") >= mh0 + 1);

    fake_mono += 999;
    assert_int_equal(check(a, t1, AUTH_PERM_READ), RC_OK); /* still a hit */
    fake_mono += 1;
    assert_int_equal(check(a, t1, AUTH_PERM_READ), RC_OK); /* TTL passed: miss */
    auth_cache_get_stats(a, &s);
    assert_int_equal(s.cache_hits, h0 + 2);
    assert_int_equal(s.cache_misses, m0 + 2);

    /* LRU: t1 used, t2 used, t1 touched, t3 inserted -> t2 evicted. */
    assert_int_equal(check(a, t2, AUTH_PERM_READ), RC_OK);
    assert_int_equal(check(a, t1, AUTH_PERM_READ), RC_OK);
    assert_int_equal(check(a, t3, AUTH_PERM_READ), RC_OK);
    auth_cache_get_stats(a, &s);
    assert_int_equal(s.cache_size, 2);
    assert_int_equal(s.cache_evictions, 1);
    assert_true(s.utilization_percent > 99.9 && s.utilization_percent < 100.1);
    uint64_t hits = s.cache_hits;
    assert_int_equal(check(a, t1, AUTH_PERM_READ), RC_OK); /* t1 still cached */
    assert_int_equal(check(a, t2, AUTH_PERM_READ), RC_OK); /* t2 was evicted: miss */
    auth_cache_get_stats(a, &s);
    assert_int_equal(s.cache_hits, hits + 1);
    assert_int_equal(s.total_requests, s.cache_hits + s.cache_misses);

    /* JSON shape of the stats. */
    struct strbuf sb;
    strbuf_init(&sb, 0);
    struct jsonw w;
    jsonw_init(&w, &sb);
    jsonw_obj_begin(&w);
    auth_cache_stats_write_fields(&w, &s);
    jsonw_obj_end(&w);
    assert_int_equal(jsonw_finish(&w), RC_OK);
    const char *keys[] = {
        "\"cache_size\":2",         "\"max_cache_size\":2", "\"cache_ttl_seconds\":1",
        "\"utilization_percent\":", "\"total_requests\":",  "\"cache_hits\":",
        "\"cache_misses\":",        "\"cache_evictions\":", "\"hit_rate_percent\":"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        assert_non_null(strstr(sb.data, keys[i]));
    strbuf_cleanup(&sb);
    xfree(t1);
    xfree(t2);
    xfree(t3);
    auth_close(&a);
}

static void test_mutations_invalidate(void **state)
{
    (void)state;
    struct auth *a = open_auth();
    int64_t id;
    char *t = create(a, "m", AUTH_PERM_READ, &id);
    struct auth_cache_stats s;
    struct errbuf eb;
    errbuf_clear(&eb);

    /* Update permissions: the cached principal must not survive. */
    assert_int_equal(check(a, t, AUTH_PERM_READ), RC_OK);
    assert_int_equal(check(a, t, AUTH_PERM_ADMIN), RC_DENIED);
    auth_cache_get_stats(a, &s);
    assert_int_equal(s.cache_size, 1);
    struct auth_token_spec up = {0};
    up.set_perms = true;
    up.perms = AUTH_PERM_ADMIN;
    up.description = "now admin";
    struct auth_token_info info;
    assert_int_equal(auth_token_update(a, id, &up, &info, &eb), RC_OK);
    assert_int_equal(info.perms, AUTH_PERM_ADMIN);
    assert_string_equal(info.description, "now admin");
    assert_string_equal(info.name, "m"); /* unchanged field kept */
    auth_token_info_cleanup(&info);
    auth_cache_get_stats(a, &s);
    assert_int_equal(s.cache_size, 0);
    assert_int_equal(check(a, t, AUTH_PERM_ADMIN), RC_OK);

    /* Each other mutation empties the cache too. */
    char *other = create(a, "other", AUTH_PERM_READ, NULL);
    for (int step = 0; step < 3; step++) {
        assert_int_equal(check(a, other, AUTH_PERM_READ), RC_OK);
        auth_cache_get_stats(a, &s);
        assert_int_equal(s.cache_size, 1);
        char *x = NULL;
        if (step == 0)
            assert_int_equal(auth_token_revoke(a, id, &eb), RC_OK);
        else if (step == 1)
            assert_int_equal(auth_token_rotate(a, id, &x, NULL, &eb), RC_OK);
        else
            assert_int_equal(auth_token_delete(a, id, &eb), RC_OK);
        xfree(x);
        auth_cache_get_stats(a, &s);
        assert_int_equal(s.cache_size, 0);
    }

    /* Duplicate names: create and rename. */
    char *dup = NULL;
    struct auth_token_spec cs = {0};
    cs.name = "other";
    errbuf_clear(&eb);
    assert_int_equal(auth_token_create(a, &cs, &dup, NULL, &eb), RC_EXISTS);
    assert_null(dup);
    assert_non_null(strstr(eb.msg, "already exists"));
    int64_t id2;
    char *t2 = create(a, "third", AUTH_PERM_READ, &id2);
    struct auth_token_spec rn = {0};
    rn.name = "other";
    errbuf_clear(&eb);
    assert_int_equal(auth_token_update(a, id2, &rn, NULL, &eb), RC_EXISTS);
    cs.name = "";
    errbuf_clear(&eb);
    assert_int_equal(auth_token_create(a, &cs, &dup, NULL, &eb), RC_INVALID);
    xfree(t);
    xfree(t2);
    xfree(other);
    auth_close(&a);
}

static void test_last_used(void **state)
{
    (void)state;
    struct auth *a = open_auth();
    int64_t id;
    char *t = create(a, "lu", AUTH_PERM_READ, &id);
    struct auth_token_info info;
    struct errbuf eb;
    assert_int_equal(auth_token_get(a, id, &info, &eb), RC_OK);
    assert_false(info.has_last_used);
    auth_token_info_cleanup(&info);
    fake_now_us += 5 * US_PER_SEC;
    assert_int_equal(check(a, t, AUTH_PERM_READ), RC_OK);
    /* Visible at once (pending value overlaid), persisted later. */
    assert_int_equal(auth_token_get(a, id, &info, &eb), RC_OK);
    assert_true(info.has_last_used);
    assert_int_equal(info.last_used_at_us, fake_now_us);
    auth_token_info_cleanup(&info);
    int64_t used = fake_now_us;
    auth_close(&a); /* flushes */
    a = open_auth();
    assert_int_equal(auth_token_get(a, id, &info, &eb), RC_OK);
    assert_true(info.has_last_used);
    assert_int_equal(info.last_used_at_us, used);
    auth_token_info_cleanup(&info);
    xfree(t);
    auth_close(&a);
}

static void test_rate_limit(void **state)
{
    (void)state;
    struct auth *a = open_auth();
    for (int i = 0; i < AUTH_CREATE_RATE_PER_MIN; i++) {
        assert_true(auth_create_rate_ok(a, "10.0.0.1"));
        fake_mono += 1000;
    }
    assert_false(auth_create_rate_ok(a, "10.0.0.1"));
    assert_true(auth_create_rate_ok(a, "10.0.0.2")); /* per client */
    fake_mono += 50001;                              /* 60 s after the first attempt */
    assert_true(auth_create_rate_ok(a, "10.0.0.1"));
    assert_false(auth_create_rate_ok(a, "10.0.0.1")); /* 2nd attempt still inside */
    fake_mono += 60000;
    assert_true(auth_create_rate_ok(a, "10.0.0.1"));
    /* Many clients never break the table. */
    char addr[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(addr, sizeof(addr), "192.168.%d.%d", i / 256, i % 256);
        assert_true(auth_create_rate_ok(a, addr));
    }
    auth_close(&a);
}

static void test_url_token_warning_once(void **state)
{
    (void)state;
    struct auth *a = open_auth();
    char *t = create(a, "url", AUTH_PERM_READ, NULL);
    uint64_t w0 = log_count_at_least(LOG_WARN);
    struct auth_creds c = {NULL, NULL, t};
    struct auth_decision d;
    for (int i = 0; i < 3; i++) {
        auth_authorize(a, "/query", AUTH_PERM_READ, &c, &d);
        assert_int_equal(d.status, 0);
        assert_int_equal(d.source, AUTH_SRC_QUERY);
    }
    assert_int_equal(log_count_at_least(LOG_WARN), w0 + 1);
    xfree(t);
    auth_close(&a);
}

static void test_background_sees_other_process(void **state)
{
    (void)state;
    struct auth_options o = test_opts();
    o.no_background = false;
    o.mono_ms = NULL; /* real clock for the thread */
    struct auth *server = NULL;
    struct errbuf eb;
    errbuf_clear(&eb);
    assert_int_equal(auth_open_opts(&F.cfg, &o, &server, &eb), RC_OK);
    struct auth *cli = open_auth(); /* a second connection, like `arc token` */
    int64_t id;
    char *t = create(cli, "bg", AUTH_PERM_READ, &id);
    assert_int_equal(check(server, t, AUTH_PERM_READ), RC_OK); /* cached in the server */
    assert_int_equal(auth_token_revoke(cli, id, &eb), RC_OK);
    int rc = RC_OK;
    for (int i = 0; i < 40 && rc == RC_OK; i++) {
        time_sleep_ms(100);
        rc = check(server, t, AUTH_PERM_READ);
    }
    assert_int_equal(rc, RC_UNAUTH);
    xfree(t);
    auth_close(&cli);
    auth_close(&server);
}

/* --- command line --------------------------------------------------------------- */

/* Runs auth_cli_main with stdout and stderr captured into files. */
static int run_cli(struct config *cfg, char **argv, int argc, char *out, size_t cap)
{
    char opath[160], epath[160];
    snprintf(opath, sizeof(opath), "%s/cli.out", F.dir);
    snprintf(epath, sizeof(epath), "%s/cli.err", F.dir);
    fflush(stdout);
    fflush(stderr);
    int so = dup(1), se = dup(2);
    int fo = open(opath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int fe = open(epath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fo, 1);
    dup2(fe, 2);
    int rc = auth_cli_main(argc, argv, cfg);
    fflush(stdout);
    fflush(stderr);
    dup2(so, 1);
    dup2(se, 2);
    close(so);
    close(se);
    close(fo);
    close(fe);
    FILE *f = fopen(opath, "r");
    size_t n = f ? fread(out, 1, cap - 1, f) : 0;
    out[n] = '\0';
    if (f)
        fclose(f);
    return rc;
}

static void test_cli(void **state)
{
    (void)state;
    struct config *cfg = config_new();
    assert_non_null(cfg);
    struct errbuf eb;
    errbuf_clear(&eb);
    assert_int_equal(config_set(cfg, "auth.db_path", F.db, &eb), RC_OK);
    char out[4096];

    char *create_argv[] = {
        "token",        "create", "--name",   "telegraf",         "--permissions=write",
        "--expires-in", "24h",    "--config", "/nonexistent.toml"};
    assert_int_equal(run_cli(cfg, create_argv, 9, out, sizeof(out)), 0);
    /* stdout holds exactly the token and a newline. */
    assert_int_equal(strlen(out), AUTH_TOKEN_GEN_CHARS + 1);
    char tok[64];
    snprintf(tok, sizeof(tok), "%.*s", AUTH_TOKEN_GEN_CHARS, out);

    char *list_argv[] = {"token", "list"};
    assert_int_equal(run_cli(cfg, list_argv, 2, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "telegraf"));
    assert_non_null(strstr(out, "admin")); /* bootstrapped on the first open */
    assert_null(strstr(out, tok));

    struct auth *a = open_auth();
    struct auth_principal p;
    assert_int_equal(auth_check(a, tok, AUTH_PERM_WRITE, &p), RC_OK);
    assert_string_equal(p.name, "telegraf");
    assert_true(p.has_expiry);
    assert_int_equal(check(a, tok, AUTH_PERM_READ), RC_DENIED);
    auth_close(&a);

    char *dup_argv[] = {"token", "create", "--name", "telegraf"};
    assert_int_equal(run_cli(cfg, dup_argv, 4, out, sizeof(out)), 2);
    assert_int_equal(strlen(out), 0);
    char *bad_argv[] = {"token", "create", "--permissions", "root", "--name", "x"};
    assert_int_equal(run_cli(cfg, bad_argv, 6, out, sizeof(out)), 2);
    char *noname_argv[] = {"token", "create"};
    assert_int_equal(run_cli(cfg, noname_argv, 2, out, sizeof(out)), 2);
    char *unk_argv[] = {"token", "frobnicate"};
    assert_int_equal(run_cli(cfg, unk_argv, 2, out, sizeof(out)), 2);

    char *rev_argv[] = {"token", "revoke", "telegraf"};
    assert_int_equal(run_cli(cfg, rev_argv, 3, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "Revoked token id=2 name=telegraf"));
    char *rev2_argv[] = {"token", "revoke", "1"}; /* by id */
    assert_int_equal(run_cli(cfg, rev2_argv, 3, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "name=admin"));
    char *rev3_argv[] = {"token", "revoke", "nobody"};
    assert_int_equal(run_cli(cfg, rev3_argv, 3, out, sizeof(out)), 1);

    a = open_auth();
    assert_int_equal(check(a, tok, AUTH_PERM_WRITE), RC_UNAUTH);
    auth_close(&a);
    config_free(&cfg);
}

int main(void)
{
    log_configure(LOG_WARN, LOG_FORMAT_TEXT, 0); /* warnings are counted by some tests */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_extract_forms),
        cmocka_unit_test(test_extract_malformed),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_allowlist),
        cmocka_unit_test(test_perms),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_spec_from_json),
        cmocka_unit_test(test_token_info_json),
        cmocka_unit_test_setup_teardown(test_bootstrap_generated_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bootstrap_disabled_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bootstrap_configured_pbkdf2, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bootstrap_short_token_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_force_bootstrap_recovery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_clear_text_in_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_permission_boundaries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiry_and_cache_hit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_only_check, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_ttl_lru_stats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mutations_invalidate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_last_used, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rate_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_url_token_warning_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_background_sees_other_process, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cli, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    metrics_shutdown();
    log_shutdown();
    return rc;
}
