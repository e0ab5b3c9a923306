/*
 * tests/integration/support/harness.h — start the real `arc` binary and talk
 * to it over HTTP (libcurl).
 *
 * arc_start() picks a free loopback port, makes a temporary data directory,
 * starts $ARC_BIN with the given extra environment (KEY=VALUE strings) and
 * waits until GET /ready answers 200. arc_stop() sends SIGTERM to that PID
 * only and fails the test if the process does not exit with status 0 within
 * the grace period. Every call is bounded in time.
 */
#ifndef ITEST_HARNESS_H
#define ITEST_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cmocka.h>

struct arc_proc {
    pid_t pid;
    int port;
    char dir[256];      /* temporary working directory (data lives in dir/data) */
    char base_url[64];  /* http://127.0.0.1:PORT */
    char log_path[300]; /* server stderr */
};

struct http_resp {
    long status;
    char *body; /* NUL-terminated, owned (free with http_resp_free) */
    size_t len;
    char *headers;  /* raw response headers, NUL-terminated */
    double seconds; /* total time */
};

/* Starts arc with env (NULL-terminated array of "KEY=VALUE"; may be NULL).
 * Fails the test on error. Data dir: p->dir/data, cwd = p->dir. */
void arc_start(struct arc_proc *p, const char *const *env);
/* Same, reusing p->dir (restart over existing data). */
void arc_restart(struct arc_proc *p, const char *const *env);
/* Starts without waiting for /ready; returns the PID (for startup-failure tests). */
pid_t arc_spawn(struct arc_proc *p, const char *const *env, const char *const *argv_extra);
/* SIGTERM, wait up to grace_ms; asserts exit status 0. */
void arc_stop(struct arc_proc *p, int grace_ms);
/* SIGKILL and reap. */
void arc_kill9(struct arc_proc *p);
/* Waits for the child to exit up to ms; returns exit status, or -1 on timeout. */
int arc_wait_exit(struct arc_proc *p, int ms);
/* Removes the temporary directory. */
void arc_cleanup(struct arc_proc *p);
/* True if the server log contains needle. */
bool arc_log_contains(const struct arc_proc *p, const char *needle);

/* Resident set size (VmRSS) and its peak (VmHWM) of the server process in
 * KiB, from /proc/<pid>/status; -1 if unavailable. */
long arc_rss_kb(const struct arc_proc *p);
long arc_peak_rss_kb(const struct arc_proc *p);
/* Resets the server's VmHWM to its current RSS (writes 5 to
 * /proc/<pid>/clear_refs); false if the kernel refused. */
bool arc_reset_peak_rss(const struct arc_proc *p);

/* HTTP: headers is a NULL-terminated array of "Name: value" (or NULL). */
struct http_resp http_do(const struct arc_proc *p, const char *method, const char *path,
                         const char *const *headers, const void *body, size_t body_len);
struct http_resp http_get(const struct arc_proc *p, const char *path);
struct http_resp http_post(const struct arc_proc *p, const char *path, const char *body,
                           const char *const *headers);
void http_resp_free(struct http_resp *r);
/* Value of a response header (case-insensitive), copied into out; false if absent. */
bool http_resp_header(const struct http_resp *r, const char *name, char *out, size_t cap);

/* Runs a SQL query via POST /api/v1/query and returns the response. */
struct http_resp arc_query(const struct arc_proc *p, const char *sql);

/* Asserts body contains needle, printing the body on failure. */
#define assert_body_contains(resp, needle)                                                         \
    do {                                                                                           \
        if (!(resp).body || !strstr((resp).body, (needle))) {                                      \
            print_error("body does not contain \"%s\": %s\n", (needle),                            \
                        (resp).body ? (resp).body : "(null)");                                     \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

#define assert_status(resp, code)                                                                  \
    do {                                                                                           \
        if ((resp).status != (code)) {                                                             \
            print_error("expected HTTP %d, got %ld: %s\n", (code), (resp).status,                  \
                        (resp).body ? (resp).body : "(null)");                                     \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

#endif
