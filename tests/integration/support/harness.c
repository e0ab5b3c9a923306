/*
 * tests/integration/support/harness.c — see harness.h.
 */
#include "harness.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    socklen_t l = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &l);
    int port = ntohs(a.sin_port);
    close(fd);
    return port;
}

pid_t arc_spawn(struct arc_proc *p, const char *const *env, const char *const *argv_extra)
{
    const char *bin_env = getenv("ARC_BIN");
    /* The child changes directory before exec: resolve a relative path now. */
    char bin[4096];
    if (!realpath(bin_env ? bin_env : "./build/arc", bin))
        snprintf(bin, sizeof(bin), "%s", bin_env ? bin_env : "./build/arc");
    if (!p->dir[0]) {
        snprintf(p->dir, sizeof(p->dir), "/tmp/arc-itest-XXXXXX");
        if (!mkdtemp(p->dir)) {
            print_error("mkdtemp failed\n");
            fail();
        }
    }
    p->port = free_port();
    snprintf(p->base_url, sizeof(p->base_url), "http://127.0.0.1:%d", p->port);
    snprintf(p->log_path, sizeof(p->log_path), "%s/arc.log", p->dir);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* A failed assertion longjmps past arc_stop: the server must not
         * outlive the test binary. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
            _exit(125);
        if (chdir(p->dir) != 0)
            _exit(126);
        int fd = open(p->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 2);
            dup2(fd, 1);
            close(fd);
        }
        char port[16];
        snprintf(port, sizeof(port), "%d", p->port);
        setenv("ARC_SERVER_PORT", port, 1);
        setenv("ARC_SERVER_HOST", "127.0.0.1", 1);
        setenv("ARC_AUTH_ENABLED", "false", 1);
        setenv("ARC_LOGGING_LEVEL", "DEBUG", 1);
        setenv("ARC_SERVER_SHUTDOWN_TIMEOUT_SECONDS", "10", 1);
        for (size_t i = 0; env && env[i]; i++) {
            char *kv = strdup(env[i]);
            char *eq = strchr(kv, '=');
            if (eq) {
                *eq = '\0';
                setenv(kv, eq + 1, 1);
            }
        }
        const char *argv[32];
        size_t n = 0;
        argv[n++] = bin;
        for (size_t i = 0; argv_extra && argv_extra[i] && n < 30; i++)
            argv[n++] = argv_extra[i];
        argv[n] = NULL;
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    p->pid = pid;
    return pid;
}

static void wait_ready(struct arc_proc *p)
{
    int64_t deadline = now_ms() + 30000;
    while (now_ms() < deadline) {
        int status;
        if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
            char cmd[400];
            snprintf(cmd, sizeof(cmd), "tail -n 30 %s >&2", p->log_path);
            if (system(cmd) != 0) {
            }
            print_error("arc exited during startup (status %d)\n", status);
            p->pid = 0;
            fail();
        }
        struct http_resp r = http_get(p, "/ready");
        long st = r.status;
        http_resp_free(&r);
        if (st == 200)
            return;
        usleep(50 * 1000);
    }
    print_error("arc not ready within 30 s\n");
    arc_kill9(p);
    fail();
}

void arc_start(struct arc_proc *p, const char *const *env)
{
    memset(p, 0, sizeof(*p));
    arc_spawn(p, env, NULL);
    wait_ready(p);
}

void arc_restart(struct arc_proc *p, const char *const *env)
{
    arc_spawn(p, env, NULL);
    wait_ready(p);
}

int arc_wait_exit(struct arc_proc *p, int ms)
{
    int64_t deadline = now_ms() + ms;
    while (now_ms() < deadline) {
        int status;
        pid_t r = waitpid(p->pid, &status, WNOHANG);
        if (r == p->pid) {
            p->pid = 0;
            if (WIFEXITED(status))
                return WEXITSTATUS(status);
            return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        }
        usleep(10 * 1000);
    }
    return -1;
}

void arc_stop(struct arc_proc *p, int grace_ms)
{
    if (p->pid <= 0)
        return;
    kill(p->pid, SIGTERM);
    int st = arc_wait_exit(p, grace_ms);
    if (st != 0) {
        if (st == -1)
            arc_kill9(p);
        char cmd[400];
        snprintf(cmd, sizeof(cmd), "tail -n 40 %s >&2", p->log_path);
        if (system(cmd) != 0) {
        }
        print_error("arc did not exit cleanly after SIGTERM (status %d)\n", st);
        fail();
    }
}

void arc_kill9(struct arc_proc *p)
{
    if (p->pid <= 0)
        return;
    kill(p->pid, SIGKILL);
    int status;
    waitpid(p->pid, &status, 0);
    p->pid = 0;
}

void arc_cleanup(struct arc_proc *p)
{
    if (p->pid > 0)
        arc_kill9(p);
    if (p->dir[0] && strncmp(p->dir, "/tmp/arc-itest-", 15) == 0 && !getenv("ARC_KEEP_TMP")) {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", p->dir);
        if (system(cmd) != 0) {
        }
    }
    p->dir[0] = '\0';
}

bool arc_log_contains(const struct arc_proc *p, const char *needle)
{
    FILE *f = fopen(p->log_path, "r");
    if (!f)
        return false;
    char line[8192];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f))
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

static long proc_status_kb(const struct arc_proc *p, const char *field)
{
    if (p->pid <= 0)
        return -1;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)p->pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[256];
    long kb = -1;
    size_t fl = strlen(field);
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, field, fl) == 0 && line[fl] == ':') {
            kb = strtol(line + fl + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb;
}

long arc_rss_kb(const struct arc_proc *p)
{
    return proc_status_kb(p, "VmRSS");
}

long arc_peak_rss_kb(const struct arc_proc *p)
{
    return proc_status_kb(p, "VmHWM");
}

bool arc_reset_peak_rss(const struct arc_proc *p)
{
    if (p->pid <= 0)
        return false;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/clear_refs", (int)p->pid);
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return false;
    bool ok = write(fd, "5", 1) == 1;
    close(fd);
    return ok;
}

struct growbuf {
    char *p;
    size_t len;
};

static size_t collect(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct growbuf *g = ud;
    size_t n = size * nmemb;
    char *np = realloc(g->p, g->len + n + 1);
    if (!np)
        return 0;
    g->p = np;
    memcpy(g->p + g->len, ptr, n);
    g->len += n;
    g->p[g->len] = '\0';
    return n;
}

struct http_resp http_do(const struct arc_proc *p, const char *method, const char *path,
                         const char *const *headers, const void *body, size_t body_len)
{
    struct http_resp r = {0};
    CURL *c = curl_easy_init();
    char url[2048];
    snprintf(url, sizeof(url), "%s%s", p->base_url, path);
    struct growbuf b = {0}, h = {0};
    struct curl_slist *hl = NULL;
    for (size_t i = 0; headers && headers[i]; i++)
        hl = curl_slist_append(hl, headers[i]);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (!strcmp(method, "HEAD"))
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode cc = curl_easy_perform(c);
    if (cc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
        curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &r.seconds);
    } else {
        r.status = 0;
    }
    r.body = b.p ? b.p : strdup("");
    r.len = b.len;
    r.headers = h.p ? h.p : strdup("");
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    return r;
}

struct http_resp http_get(const struct arc_proc *p, const char *path)
{
    return http_do(p, "GET", path, NULL, NULL, 0);
}

struct http_resp http_post(const struct arc_proc *p, const char *path, const char *body,
                           const char *const *headers)
{
    return http_do(p, "POST", path, headers, body ? body : "", body ? strlen(body) : 0);
}

void http_resp_free(struct http_resp *r)
{
    free(r->body);
    free(r->headers);
    r->body = r->headers = NULL;
}

bool http_resp_header(const struct http_resp *r, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    const char *line = r->headers;
    while (line && *line) {
        const char *eol = strstr(line, "\r\n");
        size_t ll = eol ? (size_t)(eol - line) : strlen(line);
        if (ll > nl && line[nl] == ':' && strncasecmp(line, name, nl) == 0) {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            size_t vl = ll - (size_t)(v - line);
            if (vl >= cap)
                vl = cap - 1;
            memcpy(out, v, vl);
            out[vl] = '\0';
            return true;
        }
        line = eol ? eol + 2 : NULL;
    }
    return false;
}

struct http_resp arc_query(const struct arc_proc *p, const char *sql)
{
    /* JSON-escape the SQL. */
    size_t n = strlen(sql);
    char *body = malloc(n * 6 + 32);
    size_t o = 0;
    o += (size_t)sprintf(body, "{\"sql\":\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)sql[i];
        if (ch == '"' || ch == '\\') {
            body[o++] = '\\';
            body[o++] = (char)ch;
        } else if (ch < 0x20) {
            o += (size_t)sprintf(body + o, "\\u%04x", ch);
        } else {
            body[o++] = (char)ch;
        }
    }
    o += (size_t)sprintf(body + o, "\"}");
    static const char *const h[] = {"Content-Type: application/json", NULL};
    struct http_resp r = http_do(p, "POST", "/api/v1/query", h, body, o);
    free(body);
    return r;
}
