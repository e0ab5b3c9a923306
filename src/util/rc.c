/*
 * util/rc.c — return-code names and the errbuf helpers (see rc.h).
 * Thread-safe: no shared state.
 */
#include "util/rc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *rc_name(int rc)
{
    switch (rc) {
    case RC_OK: return "ok";
    case RC_INVALID: return "invalid";
    case RC_PARSE: return "parse";
    case RC_NOT_FOUND: return "not_found";
    case RC_EXISTS: return "exists";
    case RC_LIMIT: return "limit";
    case RC_UNSUPPORTED: return "unsupported";
    case RC_DENIED: return "denied";
    case RC_UNAUTH: return "unauthorized";
    case RC_BUSY: return "busy";
    case RC_TIMEOUT: return "timeout";
    case RC_IO: return "io";
    case RC_S3: return "s3";
    case RC_DB: return "db";
    case RC_INTERNAL: return "internal";
    case RC_NOMEM: return "nomem";
    case RC_SHUTDOWN: return "shutdown";
    case RC_AGAIN: return "again";
    }
    return "unknown";
}

void errbuf_clear(struct errbuf *eb)
{
    if (!eb)
        return;
    eb->rc = RC_OK;
    eb->msg[0] = '\0';
}

static void vset(struct errbuf *eb, int rc, const char *fmt, va_list ap) ARC_PRINTF(3, 0);

static void vset(struct errbuf *eb, int rc, const char *fmt, va_list ap)
{
    int n = vsnprintf(eb->msg, sizeof(eb->msg), fmt, ap);
    if (n >= (int)sizeof(eb->msg))
        memcpy(eb->msg + sizeof(eb->msg) - 4, "...", 4);
    eb->rc = rc;
}

int errbuf_set(struct errbuf *eb, int rc, const char *fmt, ...)
{
    if (!eb || eb->msg[0] != '\0')
        return rc;
    va_list ap;
    va_start(ap, fmt);
    vset(eb, rc, fmt, ap);
    va_end(ap);
    return rc;
}

int errbuf_reset(struct errbuf *eb, int rc, const char *fmt, ...)
{
    if (!eb)
        return rc;
    va_list ap;
    va_start(ap, fmt);
    vset(eb, rc, fmt, ap);
    va_end(ap);
    return rc;
}
