/*
 * Integration tests of authentication (SPEC §5) against the real `arc`
 * binary: public paths, 401/403 envelopes, every way to present a token, the
 * token endpoints with their exact shapes and status codes, the cache
 * endpoints, the creation rate limit, bootstrap printing, the store's file
 * mode and `arc token …` on the command line.
 *
 * Auth is enabled per server with ARC_AUTH_ENABLED=true (the harness
 * disables it by default). The configured bootstrap token uses a PBKDF2
 * verifier (600000 iterations, slow by design), so the tests first create a
 * generated admin token with it and use that one afterwards.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BOOT "itest-bootstrap-token-0123456789abcdefghijklmn" /* 48 chars */

static const char *const auth_env[] = {"ARC_AUTH_ENABLED=true", "ARC_AUTH_BOOTSTRAP_TOKEN=" BOOT,
                                       NULL};

static struct arc_proc srv;
static char admin_tok[64];  /* generated admin token (fast SHA-256 verifier) */
static char admin_hdr[128]; /* "Authorization: Bearer <admin_tok>" */

/* --- helpers ---------------------------------------------------------------------- */

/* Copies the string value of "key":"..." from a JSON body. */
static bool json_str(const char *body, const char *key, char *out, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":\"", key);
    const char *p = body ? strstr(body, pat) : NULL;
    if (!p)
        return false;
    p += strlen(pat);
    const char *e = strchr(p, '"');
    if (!e || (size_t)(e - p) >= cap)
        return false;
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = '\0';
    return true;
}

static long long json_int(const char *body, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    const char *p = body ? strstr(body, pat) : NULL;
    return p ? strtoll(p + strlen(pat), NULL, 10) : -1;
}

static struct http_resp req_tok(const char *method, const char *path, const char *hdr,
                                const char *body)
{
    const char *h[] = {hdr, "Content-Type: application/json", NULL};
    return http_do(&srv, method, path, hdr ? h : h + 1, body, body ? strlen(body) : 0);
}

static struct http_resp adm(const char *method, const char *path, const char *body)
{
    return req_tok(method, path, admin_hdr, body);
}

static void bearer(char *out, size_t cap, const char *tok)
{
    snprintf(out, cap, "Authorization: Bearer %s", tok);
}

/* Creates a token as admin; returns its id and copies the secret. */
static long long create_token(const char *json, char *secret, size_t cap)
{
    struct http_resp r = adm("POST", "/api/v1/auth/tokens", json);
    assert_status(r, 201);
    assert_true(json_str(r.body, "token", secret, cap));
    assert_int_equal(strlen(secret), 43);
    long long id = json_int(r.body, "id");
    assert_true(id > 0);
    http_resp_free(&r);
    return id;
}

static int start_auth_server(void **state)
{
    (void)state;
    arc_start(&srv, auth_env);
    /* Bootstrap token -> a generated admin token for the rest of the run. */
    char boot_hdr[128];
    bearer(boot_hdr, sizeof(boot_hdr), BOOT);
    struct http_resp r = req_tok("POST", "/api/v1/auth/tokens", boot_hdr,
                                 "{\"name\":\"itest-admin\",\"permissions\":[\"admin\"]}");
    assert_status(r, 201);
    assert_true(json_str(r.body, "token", admin_tok, sizeof(admin_tok)));
    http_resp_free(&r);
    bearer(admin_hdr, sizeof(admin_hdr), admin_tok);
    return 0;
}

static int stop_server(void **state)
{
    (void)state;
    arc_stop(&srv, 15000);
    arc_cleanup(&srv);
    return 0;
}

/* --- group 1: one server, auth enabled with a configured bootstrap token ---------- */

static void test_public_and_unauthenticated(void **state)
{
    (void)state;
    struct http_resp r = http_get(&srv, "/health");
    assert_status(r, 200);
    http_resp_free(&r);
    r = http_get(&srv, "/");
    assert_status(r, 200);
    http_resp_free(&r);

    r = http_get(&srv, "/api/v1/auth/tokens");
    assert_status(r, 401);
    assert_body_contains(r, "\"success\":false");
    assert_body_contains(r, "\"error\":\"Authentication required\"");
    assert_body_contains(r, "\"detail\":\"Authentication required\"");
    http_resp_free(&r);

    r = req_tok("GET", "/api/v1/auth/tokens", "Authorization: Bearer not-a-token", NULL);
    assert_status(r, 401);
    assert_body_contains(r, "\"error\":\"Invalid or expired token\"");
    http_resp_free(&r);

    r = req_tok("GET", "/api/v1/auth/tokens", "Authorization: Basic %%%%", NULL);
    assert_status(r, 401);
    assert_body_contains(r, "Invalid or expired token");
    http_resp_free(&r);

    /* A write endpoint answers with the InfluxDB-style `code` field. */
    const char *lp = "cpu,host=a value=1 1700000000000000000\n";
    r = http_post(&srv, "/api/v1/write", lp, NULL);
    assert_status(r, 401);
    assert_body_contains(r, "\"code\":");
    http_resp_free(&r);

    /* The bootstrap token is an admin token. */
    char boot_hdr[128];
    bearer(boot_hdr, sizeof(boot_hdr), BOOT);
    r = req_tok("GET", "/api/v1/auth/verify", boot_hdr, NULL);
    assert_status(r, 200);
    assert_body_contains(r, "\"valid\":true");
    assert_body_contains(r, "\"name\":\"admin\"");
    assert_body_contains(r, "\"permissions\":[\"read\",\"write\",\"delete\",\"admin\"]");
    http_resp_free(&r);

    /* The store file is 0600. */
    char path[400];
    snprintf(path, sizeof(path), "%s/data/arc.db", srv.dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

static void test_token_crud_shapes(void **state)
{
    (void)state;
    char w_tok[64];
    long long id = create_token("{\"name\":\"writer\",\"description\":\"edge collectors\","
                                "\"permissions\":[\"write\"]}",
                                w_tok, sizeof(w_tok));

    /* GET one: "token" object plus flattened fields. */
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/auth/tokens/%lld", id);
    struct http_resp r = adm("GET", path, NULL);
    assert_status(r, 200);
    assert_body_contains(r, "\"success\":true");
    assert_body_contains(r, "\"token\":{\"id\":");
    assert_body_contains(r, "\"name\":\"writer\"");
    assert_body_contains(r, "\"description\":\"edge collectors\"");
    assert_body_contains(r, "\"permissions\":[\"write\"]");
    assert_body_contains(r, "\"last_used_at\":null");
    assert_body_contains(r, "\"expires_at\":null");
    assert_body_contains(r, "\"enabled\":true");
    assert_body_contains(r, "\"created_at\":\"20");
    if (strstr(r.body, w_tok)) {
        print_error("secret returned by GET: %s\n", r.body);
        fail();
    }
    http_resp_free(&r);

    /* List. */
    r = adm("GET", "/api/v1/auth/tokens", NULL);
    assert_status(r, 200);
    assert_body_contains(r, "\"tokens\":[{");
    assert_true(json_int(r.body, "count") >= 3); /* admin, itest-admin, writer */
    assert_null(strstr(r.body, w_tok));
    assert_null(strstr(r.body, "verifier"));
    http_resp_free(&r);

    /* Errors. */
    r = adm("POST", "/api/v1/auth/tokens", "{\"name\":\"writer\"}");
    assert_status(r, 409);
    http_resp_free(&r);
    r = adm("POST", "/api/v1/auth/tokens", "{\"description\":\"no name\"}");
    assert_status(r, 400);
    assert_body_contains(r, "name is required");
    http_resp_free(&r);
    r = adm("POST", "/api/v1/auth/tokens",
            "{\"name\":\"both\",\"expires_in\":\"1h\",\"expires_at\":\"2099-01-01T00:00:00Z\"}");
    assert_status(r, 400);
    http_resp_free(&r);
    r = adm("GET", "/api/v1/auth/tokens/abc", NULL);
    assert_status(r, 400);
    http_resp_free(&r);
    r = adm("GET", "/api/v1/auth/tokens/999999", NULL);
    assert_status(r, 404);
    http_resp_free(&r);
    r = adm("DELETE", "/api/v1/auth/tokens/999999", NULL);
    assert_status(r, 404);
    http_resp_free(&r);

    /* PATCH. */
    r = adm("PATCH", path, "{\"description\":\"renamed\",\"permissions\":\"write,read\"}");
    assert_status(r, 200);
    assert_body_contains(r, "\"message\":\"Token updated successfully\"");
    assert_body_contains(r, "\"token\":{");
    assert_body_contains(r, "\"description\":\"renamed\"");
    assert_body_contains(r, "\"permissions\":[\"read\",\"write\"]");
    http_resp_free(&r);
    r = adm("PATCH", path, "{\"name\":\"itest-admin\"}");
    assert_status(r, 409);
    http_resp_free(&r);

    /* Expiry given as a duration comes back as RFC 3339. */
    char e_tok[64];
    long long eid = create_token("{\"name\":\"expiring\",\"expires_in\":\"24h\","
                                 "\"permissions\":\"read\"}",
                                 e_tok, sizeof(e_tok));
    snprintf(path, sizeof(path), "/api/v1/auth/tokens/%lld", eid);
    r = adm("GET", path, NULL);
    assert_status(r, 200);
    assert_body_contains(r, "\"expires_at\":\"20");
    http_resp_free(&r);

    /* DELETE. */
    r = adm("DELETE", path, NULL);
    assert_status(r, 200);
    assert_body_contains(r, "\"message\":\"Token deleted successfully\"");
    char want[64];
    snprintf(want, sizeof(want), "\"token_id\":%lld", eid);
    assert_body_contains(r, want);
    http_resp_free(&r);
    r = adm("GET", path, NULL);
    assert_status(r, 404);
    http_resp_free(&r);
    char hdr[128];
    bearer(hdr, sizeof(hdr), e_tok);
    r = req_tok("GET", "/api/v1/auth/verify", hdr, NULL);
    assert_status(r, 401);
    http_resp_free(&r);
}

static void test_presentation_forms_and_perms(void **state)
{
    (void)state;
    char r_tok[64];
    long long id =
        create_token("{\"name\":\"reader\",\"permissions\":[\"read\"]}", r_tok, sizeof(r_tok));
    char hdr[400];
    struct http_resp r;

    /* Every way of presenting the token reaches verify. */
    const char *prefixes[] = {"Authorization: Bearer ", "Authorization: Token ",
                              "Authorization: ", "x-api-key: "};
    for (size_t i = 0; i < 4; i++) {
        snprintf(hdr, sizeof(hdr), "%s%s", prefixes[i], r_tok);
        r = req_tok("GET", "/api/v1/auth/verify", hdr, NULL);
        assert_status(r, 200);
        assert_body_contains(r, "\"valid\":true");
        assert_body_contains(r, "\"token_info\":{");
        assert_body_contains(r, "\"name\":\"reader\"");
        assert_body_contains(r, "\"permissions\":[\"read\"]");
        http_resp_free(&r);
    }
    /* Basic: user "influx", password = token; and token as user, empty password. */
    const char *b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char plain[128], enc[256];
    for (int variant = 0; variant < 2; variant++) {
        if (variant == 0)
            snprintf(plain, sizeof(plain), "influx:%s", r_tok);
        else
            snprintf(plain, sizeof(plain), "%s:", r_tok);
        size_t n = strlen(plain), o = 0;
        for (size_t i = 0; i < n; i += 3) {
            unsigned v = (unsigned char)plain[i] << 16;
            if (i + 1 < n)
                v |= (unsigned char)plain[i + 1] << 8;
            if (i + 2 < n)
                v |= (unsigned char)plain[i + 2];
            enc[o++] = b64[(v >> 18) & 63];
            enc[o++] = b64[(v >> 12) & 63];
            enc[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
            enc[o++] = i + 2 < n ? b64[v & 63] : '=';
        }
        enc[o] = '\0';
        snprintf(hdr, sizeof(hdr), "Authorization: Basic %s", enc);
        r = req_tok("GET", "/api/v1/auth/verify", hdr, NULL);
        assert_status(r, 200);
        assert_body_contains(r, "\"name\":\"reader\"");
        http_resp_free(&r);
    }
    /* Query parameter p (u ignored), with a one-time deprecation warning. */
    char path[160];
    snprintf(path, sizeof(path), "/api/v1/auth/verify?u=whoever&p=%s", r_tok);
    r = http_get(&srv, path);
    assert_status(r, 200);
    http_resp_free(&r);
    assert_true(arc_log_contains(&srv, "deprecated"));

    /* Verify without / with a bad token. */
    r = http_get(&srv, "/api/v1/auth/verify");
    assert_status(r, 401);
    assert_body_contains(r, "\"valid\":false");
    assert_body_contains(r, "\"error\":\"Authentication required\"");
    http_resp_free(&r);
    r = req_tok("GET", "/api/v1/auth/verify", "x-api-key: wrong", NULL);
    assert_status(r, 401);
    assert_body_contains(r, "\"valid\":false");
    assert_body_contains(r, "\"detail\":\"Invalid or expired token\"");
    http_resp_free(&r);

    /* Permission boundaries: read token on admin and write endpoints. */
    bearer(hdr, sizeof(hdr), r_tok);
    r = req_tok("GET", "/api/v1/auth/tokens", hdr, NULL);
    assert_status(r, 403);
    assert_body_contains(r, "\"error\":\"Permission denied: admin required\"");
    http_resp_free(&r);
    const char *lp = "cpu,host=a value=1 1700000000000000000\n";
    const char *hh[] = {hdr, NULL};
    r = http_post(&srv, "/api/v1/write", lp, hh);
    assert_status(r, 403);
    assert_body_contains(r, "Permission denied: write required");
    assert_body_contains(r, "\"code\":");
    http_resp_free(&r);
    r = req_tok("POST", "/api/v1/write/flush", hdr, NULL);
    assert_status(r, 403);
    http_resp_free(&r);

    /* A write token may write (whatever the ingest result, it is not 401/403). */
    char w_tok[64];
    create_token("{\"name\":\"writer2\",\"permissions\":[\"write\"]}", w_tok, sizeof(w_tok));
    snprintf(hdr, sizeof(hdr), "Authorization: Token %s", w_tok);
    const char *wh[] = {hdr, NULL};
    r = http_post(&srv, "/api/v2/write?bucket=default", lp, wh);
    assert_true(r.status != 401 && r.status != 403 && r.status != 0);
    http_resp_free(&r);

    /* last_used_at is visible after use. */
    snprintf(path, sizeof(path), "/api/v1/auth/tokens/%lld", id);
    r = adm("GET", path, NULL);
    assert_status(r, 200);
    assert_body_contains(r, "\"last_used_at\":\"20");
    http_resp_free(&r);

    /* No token value ever reaches the log. */
    assert_false(arc_log_contains(&srv, r_tok));
    assert_false(arc_log_contains(&srv, w_tok));
    assert_false(arc_log_contains(&srv, admin_tok));
    assert_false(arc_log_contains(&srv, BOOT));
}

static void test_rotate_revoke_cache(void **state)
{
    (void)state;
    char tok[64], hdr[128], path[128];
    long long id =
        create_token("{\"name\":\"rotating\",\"permissions\":[\"read\"]}", tok, sizeof(tok));
    bearer(hdr, sizeof(hdr), tok);
    struct http_resp r = req_tok("GET", "/api/v1/auth/verify", hdr, NULL); /* now cached */
    assert_status(r, 200);
    http_resp_free(&r);

    snprintf(path, sizeof(path), "/api/v1/auth/tokens/%lld/rotate", id);
    r = adm("POST", path, NULL);
    assert_status(r, 200);
    assert_body_contains(r, "\"success\":true");
    char nt[64], nt2[64];
    assert_true(json_str(r.body, "new_token", nt, sizeof(nt)));
    assert_true(json_str(r.body, "token", nt2, sizeof(nt2)));
    assert_string_equal(nt, nt2);
    assert_string_not_equal(nt, tok);
    assert_body_contains(r, "\"name\":\"rotating\"");
    http_resp_free(&r);
    r = req_tok("GET", "/api/v1/auth/verify", hdr, NULL);
    assert_status(r, 401); /* old value stops working immediately */
    http_resp_free(&r);
    bearer(hdr, sizeof(hdr), nt);
    r = req_tok("GET", "/api/v1/auth/verify", hdr, NULL);
    assert_status(r, 200);
    http_resp_free(&r);

    snprintf(path, sizeof(path), "/api/v1/auth/tokens/%lld/revoke", id);
    r = adm("POST", path, NULL);
    assert_status(r, 200);
    assert_body_contains(r, "\"message\":\"Token revoked successfully\"");
    http_resp_free(&r);
    r = req_tok("GET", "/api/v1/auth/verify", hdr, NULL);
    assert_status(r, 401);
    http_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/auth/tokens/%lld", id);
    r = adm("GET", path, NULL);
    assert_body_contains(r, "\"enabled\":false");
    http_resp_free(&r);
    r = adm("POST", "/api/v1/auth/tokens/abc/rotate", NULL);
    assert_status(r, 400);
    http_resp_free(&r);
    r = adm("POST", "/api/v1/auth/tokens/999999/revoke", NULL);
    assert_status(r, 404);
    http_resp_free(&r);

    /* Cache endpoints. */
    r = adm("GET", "/api/v1/auth/cache/stats", NULL);
    assert_status(r, 200);
    assert_body_contains(r, "\"success\":true");
    assert_body_contains(r, "\"stats\":{\"cache_size\":");
    assert_body_contains(r, "\"max_cache_size\":1000");
    assert_body_contains(r, "\"cache_ttl_seconds\":30");
    assert_body_contains(r, "\"hit_rate_percent\":");
    assert_body_contains(r, "\"cache_evictions\":");
    http_resp_free(&r);
    r = adm("POST", "/api/v1/auth/cache/invalidate", NULL);
    assert_status(r, 200);
    assert_body_contains(r, "\"message\":\"Cache invalidated successfully\"");
    assert_body_contains(r, "\"cache_ttl_seconds\":30");
    http_resp_free(&r);
    bearer(hdr, sizeof(hdr), nt);
    r = req_tok("GET", "/api/v1/auth/cache/stats", hdr, NULL); /* read token: admin only */
    assert_status(r, 401);                                     /* revoked above */
    http_resp_free(&r);
}

/* --- group 2: rate limit (a server of its own: attempts are per client) ------------ */

static void test_create_rate_limit(void **state)
{
    (void)state;
    /* start_auth_server used one creation; 9 more are allowed this minute. */
    char body[96];
    for (int i = 0; i < 9; i++) {
        snprintf(body, sizeof(body), "{\"name\":\"rl-%d\"}", i);
        struct http_resp r = adm("POST", "/api/v1/auth/tokens", body);
        assert_status(r, 201);
        http_resp_free(&r);
    }
    struct http_resp r = adm("POST", "/api/v1/auth/tokens", "{\"name\":\"rl-over\"}");
    assert_status(r, 429);
    assert_body_contains(r, "\"success\":false");
    http_resp_free(&r);
}

/* --- group 3: generated bootstrap token printed once; the CLI -------------------- */

static int count_in_file(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[8192];
    int n = 0;
    while (fgets(line, sizeof(line), f))
        for (const char *p = line; (p = strstr(p, needle)); p += strlen(needle))
            n++;
    fclose(f);
    return n;
}

/* The generated token: the banner's indented line. */
static bool token_from_banner(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char line[8192];
    bool in = false, found = false;
    while (!found && fgets(line, sizeof(line), f)) {
        if (strstr(line, "initial admin API token"))
            in = true;
        else if (in && !strncmp(line, "     ", 5) && strlen(line) >= 5 + 43) {
            snprintf(out, cap, "%.43s", line + 5);
            found = true;
        }
    }
    fclose(f);
    return found;
}

static void test_generated_bootstrap_printed_once(void **state)
{
    (void)state;
    const char *env[] = {"ARC_AUTH_ENABLED=true", NULL};
    struct arc_proc p;
    arc_start(&p, env);
    char tok[64];
    assert_true(token_from_banner(p.log_path, tok, sizeof(tok)));
    assert_int_equal(count_in_file(p.log_path, tok), 1);
    assert_int_equal(count_in_file(p.log_path, "initial admin API token"), 1);
    struct http_resp r;
    char hdr[128];
    bearer(hdr, sizeof(hdr), tok);
    const char *h[] = {hdr, NULL};
    r = http_do(&p, "GET", "/api/v1/auth/tokens", h, NULL, 0);
    assert_status(r, 200);
    assert_body_contains(r, "\"name\":\"admin\"");
    assert_int_equal(json_int(r.body, "count"), 1);
    http_resp_free(&r);
    arc_stop(&p, 15000);

    /* Restart on the same data: nothing printed again, token still valid. */
    arc_restart(&p, env);
    assert_int_equal(count_in_file(p.log_path, "initial admin API token"), 1);
    assert_int_equal(count_in_file(p.log_path, tok), 1);
    r = http_do(&p, "GET", "/api/v1/auth/verify", h, NULL, 0);
    assert_status(r, 200);
    http_resp_free(&r);
    arc_stop(&p, 15000);

    /* `arc token create` on the same store prints the new token to stdout;
     * `arc token revoke` disables it. */
    const char *create_argv[] = {"token",         "create", "--name", "cli-made",
                                 "--permissions", "read",   NULL};
    arc_spawn(&p, env, create_argv);
    assert_int_equal(arc_wait_exit(&p, 30000), 0);
    char cli_tok[64] = "";
    {
        FILE *f = fopen(p.log_path, "r");
        assert_non_null(f);
        char line[8192];
        while (fgets(line, sizeof(line), f)) {
            size_t n = strcspn(line, "\r\n");
            if (n == 43 &&
                strspn(line, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                             "0123456789-_") == 43 &&
                strncmp(line, tok, 43) != 0)
                snprintf(cli_tok, sizeof(cli_tok), "%.43s", line);
        }
        fclose(f);
    }
    assert_int_equal(strlen(cli_tok), 43);
    arc_restart(&p, env);
    char chdr[128];
    bearer(chdr, sizeof(chdr), cli_tok);
    const char *ch[] = {chdr, NULL};
    r = http_do(&p, "GET", "/api/v1/auth/verify", ch, NULL, 0);
    assert_status(r, 200);
    assert_body_contains(r, "\"name\":\"cli-made\"");
    http_resp_free(&r);

    /* Revoked from the command line while the server runs: the server
     * notices the change within about a second. */
    struct arc_proc cli = p;
    const char *revoke_argv[] = {"token", "revoke", "cli-made", NULL};
    arc_spawn(&cli, env, revoke_argv);
    assert_int_equal(arc_wait_exit(&cli, 30000), 0);
    long st = 200;
    for (int i = 0; i < 50 && st == 200; i++) {
        usleep(100 * 1000);
        r = http_do(&p, "GET", "/api/v1/auth/verify", ch, NULL, 0);
        st = r.status;
        http_resp_free(&r);
    }
    assert_int_equal(st, 401);
    arc_stop(&p, 15000);
    arc_cleanup(&p);
}

int main(void)
{
    const struct CMUnitTest main_group[] = {
        cmocka_unit_test(test_public_and_unauthenticated),
        cmocka_unit_test(test_token_crud_shapes),
        cmocka_unit_test(test_presentation_forms_and_perms),
        cmocka_unit_test(test_rotate_revoke_cache),
    };
    const struct CMUnitTest rate_group[] = {
        cmocka_unit_test(test_create_rate_limit),
    };
    const struct CMUnitTest boot_group[] = {
        cmocka_unit_test(test_generated_bootstrap_printed_once),
    };
    int rc = cmocka_run_group_tests_name("auth", main_group, start_auth_server, stop_server);
    rc +=
        cmocka_run_group_tests_name("auth-rate-limit", rate_group, start_auth_server, stop_server);
    rc += cmocka_run_group_tests_name("auth-bootstrap", boot_group, NULL, NULL);
    return rc;
}
