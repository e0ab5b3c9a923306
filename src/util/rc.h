/*
 * util/rc.h — return codes and error detail, used by every module.
 *
 * Fallible functions return an int holding an RC_* code (RC_OK == 0) and put
 * human-readable detail into a caller-provided struct errbuf, filled once at
 * the place the failure is found. http/ maps codes to HTTP statuses in one
 * table (http_status_for_rc). The text goes to logs and HTTP bodies, so it
 * must never contain a secret.
 */
#ifndef UTIL_RC_H
#define UTIL_RC_H

#include <stddef.h>

#define MUST_CHECK __attribute__((warn_unused_result))
#define ARC_PRINTF(fmt_idx, arg_idx) __attribute__((format(printf, fmt_idx, arg_idx)))

enum rc {
    RC_OK = 0,
    RC_INVALID,     /* bad input from a client or config (400) */
    RC_PARSE,       /* malformed data (400) */
    RC_NOT_FOUND,   /* unknown resource (404) */
    RC_EXISTS,      /* already exists (409) */
    RC_LIMIT,       /* a configured size limit was passed (413) */
    RC_UNSUPPORTED, /* unsupported encoding / feature (415) */
    RC_DENIED,      /* not allowed (403) */
    RC_UNAUTH,      /* no or bad credentials (401) */
    RC_BUSY,        /* back-pressure, try later (503 + Retry-After) */
    RC_TIMEOUT,     /* a deadline passed (504 on queries) */
    RC_IO,          /* local file system error (500) */
    RC_S3,          /* object storage error (500) */
    RC_DB,          /* DuckDB / SQLite error (500, 400 for SQL errors) */
    RC_INTERNAL,    /* bug or unexpected state (500) */
    RC_NOMEM,       /* allocation failed (500) */
    RC_SHUTDOWN,    /* the server is stopping (503) */
    RC_AGAIN,       /* would block here: call again where blocking is allowed */
};

/* Name of a code for logs ("RC_LIMIT" -> "limit"). Never NULL. */
const char *rc_name(int rc);

/* Error detail. Fixed size so it can live on the stack; long text is
 * truncated (with "..."), never overflowed. */
#define ERRBUF_SIZE 512
struct errbuf {
    int rc; /* code that went with the message, RC_OK if empty */
    char msg[ERRBUF_SIZE];
};

/* Clears the buffer (msg = "", rc = RC_OK). */
void errbuf_clear(struct errbuf *eb);

/* Sets the message (printf-style) and code, returns rc so that callers can
 * write `return errbuf_set(eb, RC_PARSE, "bad line %d", n);`. eb may be NULL.
 * The first error wins: if eb already holds a message it is kept. */
int errbuf_set(struct errbuf *eb, int rc, const char *fmt, ...) ARC_PRINTF(3, 4);

/* Same, but replaces an existing message. */
int errbuf_reset(struct errbuf *eb, int rc, const char *fmt, ...) ARC_PRINTF(3, 4);

#endif
