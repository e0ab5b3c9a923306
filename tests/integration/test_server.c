/*
 * Integration tests of the foundation: command line, configuration errors,
 * public endpoints, routing errors, request limits and graceful shutdown,
 * all against the real `arc` binary over HTTP.
 */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static struct arc_proc srv;

static int setup(void **state)
{
    (void)state;
    arc_start(&srv, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    arc_stop(&srv, 15000);
    arc_cleanup(&srv);
    return 0;
}

static void test_root_and_health(void **state)
{
    (void)state;
    struct http_resp r = http_get(&srv, "/");
    assert_status(r, 200);
    assert_body_contains(r, "\"version\":\"");
    assert_body_contains(r, "\"status\":\"running\"");
    http_resp_free(&r);

    r = http_get(&srv, "/health");
    assert_status(r, 200);
    assert_body_contains(r, "\"status\":\"ok\"");
    assert_body_contains(r, "\"components\":{");
    assert_body_contains(r, "\"uptime_sec\":");
    char v[128];
    assert_true(http_resp_header(&r, "Content-Type", v, sizeof(v)));
    assert_string_equal(v, "application/json");
    assert_true(http_resp_header(&r, "X-Content-Type-Options", v, sizeof(v)));
    assert_string_equal(v, "nosniff");
    http_resp_free(&r);

    r = http_get(&srv, "/ready");
    assert_status(r, 200);
    assert_body_contains(r, "\"status\":\"ready\"");
    assert_body_contains(r, "\"startup_complete\":true");
    http_resp_free(&r);
}

static void test_ping(void **state)
{
    (void)state;
    struct http_resp r = http_get(&srv, "/ping");
    assert_status(r, 204);
    char v[64];
    assert_true(http_resp_header(&r, "X-Influxdb-Version", v, sizeof(v)));
    assert_string_equal(v, "1.8.10-arc-compat");
    assert_int_equal(r.len, 0);
    http_resp_free(&r);
    r = http_do(&srv, "HEAD", "/ping", NULL, NULL, 0);
    assert_status(r, 204);
    http_resp_free(&r);
}

static void test_not_found_and_method(void **state)
{
    (void)state;
    struct http_resp r = http_get(&srv, "/no/such/path");
    assert_status(r, 404);
    assert_body_contains(r, "\"success\":false");
    assert_body_contains(r, "\"error\":\"Not found");
    assert_body_contains(r, "\"detail\":");
    http_resp_free(&r);

    r = http_do(&srv, "DELETE", "/health", NULL, NULL, 0);
    assert_status(r, 405);
    char allow[64];
    assert_true(http_resp_header(&r, "Allow", allow, sizeof(allow)));
    assert_string_equal(allow, "GET");
    assert_body_contains(r, "\"success\":false");
    http_resp_free(&r);

    /* Paths are normalised before routing. */
    r = http_get(&srv, "//api/../health/.");
    assert_status(r, 200);
    http_resp_free(&r);
}

static void test_request_id(void **state)
{
    (void)state;
    const char *h[] = {"X-Request-ID: my-req.42", NULL};
    struct http_resp r = http_do(&srv, "GET", "/health", h, NULL, 0);
    char v[160];
    assert_true(http_resp_header(&r, "X-Request-ID", v, sizeof(v)));
    assert_string_equal(v, "my-req.42");
    http_resp_free(&r);
    const char *bad[] = {"X-Request-ID: has spaces and $", NULL};
    r = http_do(&srv, "GET", "/health", bad, NULL, 0);
    assert_true(http_resp_header(&r, "X-Request-ID", v, sizeof(v)));
    assert_string_not_equal(v, "has spaces and $");
    assert_true(strlen(v) >= 8);
    http_resp_free(&r);
}

static void test_body_limit_413_before_upload(void **state)
{
    (void)state;
    struct arc_proc p;
    const char *env[] = {"ARC_SERVER_MAX_REQUEST_SIZE_MB=1", NULL};
    arc_start(&p, env);
    /* 3 MiB body: rejected on Content-Length. */
    size_t n = 3u << 20;
    char *body = malloc(n);
    memset(body, 'a', n);
    const char *h[] = {"Expect: 100-continue", NULL};
    struct http_resp r = http_do(&p, "POST", "/api/v1/write/line-protocol", h, body, n);
    assert_status(r, 413);
    assert_body_contains(r, "\"code\":\"request too large\"");
    http_resp_free(&r);
    /* Chunked body over the limit: counted while reading. */
    const char *hc[] = {"Transfer-Encoding: chunked", NULL};
    r = http_do(&p, "POST", "/api/v1/write/line-protocol", hc, body, n);
    assert_status(r, 413);
    http_resp_free(&r);
    free(body);
    /* The server is still healthy. */
    r = http_get(&p, "/health");
    assert_status(r, 200);
    http_resp_free(&r);
    arc_stop(&p, 15000);
    arc_cleanup(&p);
}

static int run_cli(const char *const *argv, char *out, size_t cap)
{
    const char *bin = getenv("ARC_BIN");
    int pipefd[2];
    if (pipe(pipefd) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pipefd[1], 1);
        dup2(pipefd[1], 2);
        close(pipefd[0]);
        const char *args[16] = {bin};
        size_t n = 1;
        for (size_t i = 0; argv[i] && n < 15; i++)
            args[n++] = argv[i];
        args[n] = NULL;
        setenv("ARC_SERVER_PORT", "1", 1); /* never actually listening in these tests */
        execv(bin, (char *const *)args);
        _exit(127);
    }
    close(pipefd[1]);
    size_t len = 0;
    ssize_t k;
    while ((k = read(pipefd[0], out + len, cap - 1 - len)) > 0)
        len += (size_t)k;
    out[len] = '\0';
    close(pipefd[0]);
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_cli(void **state)
{
    (void)state;
    char out[8192];
    const char *v[] = {"version", NULL};
    assert_int_equal(run_cli(v, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "arc 0."));
    const char *h[] = {"--help", NULL};
    assert_int_equal(run_cli(h, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "Usage:"));
    const char *bad[] = {"serve", "--bogus", NULL};
    assert_int_equal(run_cli(bad, out, sizeof(out)), 2);
    assert_non_null(strstr(out, "unknown option '--bogus'"));
    assert_non_null(strstr(out, "Usage:"));
    const char *badcmd[] = {"frobnicate", NULL};
    assert_int_equal(run_cli(badcmd, out, sizeof(out)), 2);
}

static void test_config_errors_stop_startup(void **state)
{
    (void)state;
    char out[8192];
    /* Out-of-range value from --set: non-zero exit naming the key. */
    const char *a[] = {"serve", "--set", "server.port=70000", NULL};
    assert_int_not_equal(run_cli(a, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "server.port"));
    /* A config file with a wrong type: names key and line. */
    char path[] = "/tmp/arc-cfg-XXXXXX";
    int fd = mkstemp(path);
    const char *toml = "[server]\nport = 8000\n\n[ingestion]\nbuffer_size = \"lots\"\n";
    assert_int_equal(write(fd, toml, strlen(toml)), (ssize_t)strlen(toml));
    close(fd);
    const char *b[] = {"serve", "--config", path, NULL};
    assert_int_not_equal(run_cli(b, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "ingestion.buffer_size"));
    assert_non_null(strstr(out, ":5"));
    unlink(path);
    /* A missing explicit config file. */
    const char *c[] = {"serve", "--config", "/nonexistent/arc.toml", NULL};
    assert_int_not_equal(run_cli(c, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "/nonexistent/arc.toml"));
}

static void test_sigterm_graceful(void **state)
{
    (void)state;
    struct arc_proc p;
    arc_start(&p, NULL);
    struct http_resp r = http_get(&p, "/health");
    assert_status(r, 200);
    http_resp_free(&r);
    arc_stop(&p, 15000); /* asserts exit status 0 */
    assert_true(arc_log_contains(&p, "shutdown complete"));
    arc_cleanup(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_root_and_health),
        cmocka_unit_test(test_ping),
        cmocka_unit_test(test_not_found_and_method),
        cmocka_unit_test(test_request_id),
    };
    const struct CMUnitTest standalone[] = {
        cmocka_unit_test(test_cli),
        cmocka_unit_test(test_config_errors_stop_startup),
        cmocka_unit_test(test_body_limit_413_before_upload),
        cmocka_unit_test(test_sigterm_graceful),
    };
    int failed = cmocka_run_group_tests_name("server", tests, setup, teardown);
    failed += cmocka_run_group_tests_name("standalone", standalone, NULL, NULL);
    return failed;
}
