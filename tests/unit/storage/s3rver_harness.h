/*
 * tests/unit/storage/s3rver_harness.h — starts the npm package s3rver (a real
 * S3 implementation, pinned in tests/s3/package.json, installed with
 * `npm ci --prefix tests/s3`) for the S3 backend tests: 127.0.0.1, ephemeral
 * port (read from its "listening on" line), a temporary directory, bucket
 * "arcbucket", --service-endpoint localhost so that virtual-hosted requests
 * to bucket.s3.localhost work. Only the child it started is ever killed.
 * When node or s3rver is missing, g_skip says why and tests call skip().
 *
 * Header-only with static functions: each test executable includes it once.
 */
#ifndef TESTS_UNIT_STORAGE_S3RVER_HARNESS_H
#define TESTS_UNIT_STORAGE_S3RVER_HARNESS_H

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "storage/s3.h"
#include "util/log.h"
#include "util/timeutil.h"

#define BUCKET "arcbucket"

static pid_t g_pid = -1;
static int g_port;
static char g_root[64];     /* temp root: s3rver data, staging, downloads */
static char g_s3rver[1024]; /* path of s3rver.js */
static const char *g_skip;  /* reason to skip, or NULL */

static inline struct storage *open_real(const char *prefix, bool vhost, int page)
{
    char ep[128], staging[128];
    snprintf(ep, sizeof(ep), vhost ? "http://s3.localhost:%d" : "http://127.0.0.1:%d", g_port);
    snprintf(staging, sizeof(staging), "%s/staging", g_root);
    struct s3_options o;
    s3_options_init(&o);
    o.endpoint = ep;
    o.bucket = BUCKET;
    o.prefix = prefix;
    o.access_key = "S3RVER";
    o.secret_key = "S3RVER";
    o.use_ssl = false;
    o.path_style = !vhost;
    o.connect_timeout_s = 5;
    o.request_timeout_s = 60;
    o.max_retries = 1;
    o.list_page_size = page;
    o.staging_dir = staging;
    struct storage *st = NULL;
    struct errbuf eb = {0};
    if (storage_new_s3(&o, &st, &eb) != RC_OK)
        fail_msg("storage_new_s3: %s", eb.msg);
    return st;
}

/* Writes content to a fresh staging file for key and puts it. */
static inline void put_str(struct storage *st, const char *key, const char *content, unsigned flags,
                           int want_rc)
{
    char path[512];
    struct errbuf eb = {0};
    assert_int_equal(storage_staging_path(st, key, path, sizeof(path), &eb), RC_OK);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
    uint64_t bytes = 0;
    int rc = storage_put_file(st, path, key, flags, &bytes, &eb);
    if (rc != want_rc)
        fail_msg("put %s: rc %d (%s)", key, rc, eb.msg);
    if (rc == RC_OK)
        assert_int_equal(bytes, strlen(content));
    else
        unlink(path);
}

static inline void sha256_file(const char *path, unsigned char md[32])
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    static char buf[1 << 20];
    ssize_t r;
    while ((r = read(fd, buf, sizeof(buf))) > 0)
        EVP_DigestUpdate(c, buf, (size_t)r);
    unsigned int n;
    EVP_DigestFinal_ex(c, md, &n);
    EVP_MD_CTX_free(c);
    close(fd);
}

#define SKIP_IF_NEEDED()                                                                           \
    do {                                                                                           \
        if (g_skip) {                                                                              \
            print_message("skipped: %s\n", g_skip);                                                \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

static inline int start_s3rver(void)
{
    const char *env = getenv("ARC_S3RVER");
    if (env) {
        snprintf(g_s3rver, sizeof(g_s3rver), "%s", env);
    } else {
        /* __FILE__ is .../tests/unit/storage/test_s3_real.c */
        const char *p = strstr(__FILE__, "tests/unit/storage/");
        snprintf(g_s3rver, sizeof(g_s3rver), "%.*stests/s3/node_modules/s3rver/bin/s3rver.js",
                 p ? (int)(p - __FILE__) : 0, __FILE__);
    }
    if (access(g_s3rver, R_OK) != 0) {
        g_skip = "s3rver not installed (npm ci --prefix tests/s3)";
        return 0;
    }
    if (system("node --version >/dev/null 2>&1") != 0) {
        g_skip = "node not installed";
        return 0;
    }
    char data[128];
    snprintf(data, sizeof(data), "%s/s3rver", g_root);
    int pfd[2];
    if (pipe(pfd) != 0)
        return -1;
    g_pid = fork();
    if (g_pid < 0)
        return -1;
    if (g_pid == 0) {
        dup2(pfd[1], STDOUT_FILENO);
        close(pfd[0]);
        close(pfd[1]);
        /* s3rver 3.7 makes continuation tokens with DES, which Node 17+
         * (OpenSSL 3) only offers through the legacy provider. */
        execlp("node", "node", "--openssl-legacy-provider", g_s3rver, "-d", data, "-a", "127.0.0.1",
               "-p", "0", "--silent", "--service-endpoint", "localhost", "--configure-bucket",
               BUCKET, (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    /* Wait for "S3rver listening on 127.0.0.1:PORT". */
    char buf[512] = "";
    size_t n = 0;
    int64_t deadline = time_mono_ms() + 15000;
    while (time_mono_ms() < deadline && n < sizeof(buf) - 1) {
        struct pollfd p = {pfd[0], POLLIN, 0};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t r = read(pfd[0], buf + n, sizeof(buf) - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        buf[n] = '\0';
        char *at = strstr(buf, "listening on ");
        if (at && strchr(at, '\n')) {
            char *colon = strrchr(at, ':');
            g_port = colon ? atoi(colon + 1) : 0;
            break;
        }
    }
    close(pfd[0]);
    if (g_port <= 0) {
        g_skip = "s3rver did not start";
        return 0;
    }
    return 0;
}

static inline int s3rver_setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    log_configure(LOG_WARN, LOG_FORMAT_TEXT, 1024);
    snprintf(g_root, sizeof(g_root), "/tmp/arc-test-s3real-XXXXXX");
    if (!mkdtemp(g_root))
        return -1;
    return start_s3rver();
}

static inline int s3rver_teardown(void **state)
{
    (void)state;
    if (g_pid > 0) {
        kill(g_pid, SIGTERM);
        int st;
        waitpid(g_pid, &st, 0);
    }
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_root);
    return system(cmd) == 0 ? 0 : -1;
}

#endif
