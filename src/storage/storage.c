/*
 * storage/storage.c — backend-independent part of storage.h: key validation,
 * hidden-name filtering of listings, metrics, dispatch to the backend vtable
 * (storage_internal.h).
 *
 * Called from flush workers (put), query threads (read, list), the scheduler
 * (delete) and startup (list). Holds no locks: the struct is immutable after
 * construction and metric updates are atomic.
 *
 * Also the fault hooks storage_fail / storage_hang (storage.h): checked at
 * the top of every storage operation, before the backend is called.
 */
#include "storage/storage.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "metrics/metrics.h"
#include "storage/storage_internal.h"
#include "util/faults.h"
#include "util/log.h"
#include "util/mem.h"

/* Block time of storage_hang for backends without a request timeout of
 * their own: SPEC §10.2's default storage.request_timeout_seconds. */
#define DEFAULT_FAULT_HANG_MS 60000L

struct storage *storage__new(const struct storage_ops *ops, void *impl)
{
    struct storage *st = xcalloc(1, sizeof(*st));
    st->ops = ops;
    st->impl = impl;
    char labels[64];
    snprintf(labels, sizeof(labels), "backend=\"%s\"", ops->name);
    st->m_writes =
        metrics_counter("arc_storage_writes_total", "Objects written to storage", labels);
    st->m_write_bytes =
        metrics_counter("arc_storage_write_bytes_total", "Bytes written to storage", labels);
    st->m_reads = metrics_counter("arc_storage_reads_total", "Object reads from storage", labels);
    st->m_errors = metrics_counter("arc_storage_errors_total", "Failed storage operations", labels);
    st->m_timeouts = metrics_counter("arc_storage_timeouts_total",
                                     "Storage requests or operations that timed out", labels);
    st->fault_hang_ms = DEFAULT_FAULT_HANG_MS;
    return st;
}

void storage_set_request_timeout_ms(struct storage *st, long ms)
{
    if (ms > 0)
        st->fault_hang_ms = ms;
}

/* The fault hooks of storage.h. Returns RC_OK when no fault applies, else
 * the injected failure (already counted and described in eb). */
static int inject_fault(struct storage *st, const char *op, const char *key, struct errbuf *eb)
{
    if (faults_enabled("storage_fail")) {
        int rc = st->ops->local_root ? RC_IO : RC_S3;
        metric_inc(st->m_errors);
        return errbuf_set(eb, rc, "storage: injected failure (storage_fail) op=%s key=%.200s", op,
                          key ? key : "");
    }
    if (faults_enabled("storage_hang")) {
        /* A hung endpoint: nothing comes back until the request timeout. */
        long ms = st->fault_hang_ms > 0 ? st->fault_hang_ms : DEFAULT_FAULT_HANG_MS;
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0) {
        }
        metric_inc(st->m_timeouts);
        metric_inc(st->m_errors);
        log_warn("storage", "timeout (injected storage_hang) op=%s key=%.200s elapsed_ms=%ld", op,
                 key ? key : "", ms);
        return errbuf_set(eb, RC_TIMEOUT,
                          "storage: %s timed out after %ld ms (injected storage_hang) key=%.200s",
                          op, ms, key ? key : "");
    }
    return RC_OK;
}

void storage_free(struct storage **stp)
{
    if (!stp || !*stp)
        return;
    struct storage *st = *stp;
    *stp = NULL;
    st->ops->destroy(st);
    xfree(st);
}

const char *storage_backend_name(const struct storage *st)
{
    return st->ops->name;
}

const char *storage_local_root(const struct storage *st)
{
    return st->ops->local_root ? st->ops->local_root(st) : NULL;
}

/* Checks the components of s[0..n): non-empty, not "." or "..", no NUL (by
 * construction), no backslash (a Windows-style separator must not sneak a
 * traversal past a later consumer). allow_trailing_slash permits a final
 * empty component (prefixes such as "db/meas/"). */
static bool components_ok(const char *s, size_t n, bool allow_trailing_slash)
{
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] == '\\')
            return false;
        if (i < n && s[i] != '/')
            continue;
        size_t len = i - start;
        if (len == 0 && !(allow_trailing_slash && i == n && n > 0))
            return false;
        if ((len == 1 && s[start] == '.') || (len == 2 && s[start] == '.' && s[start + 1] == '.'))
            return false;
        start = i + 1;
    }
    return true;
}

bool storage_key_is_valid(const char *key)
{
    if (!key)
        return false;
    size_t n = strnlen(key, STORAGE_KEY_MAX + 1);
    if (n == 0 || n > STORAGE_KEY_MAX || key[0] == '/')
        return false;
    return components_ok(key, n, false);
}

bool storage__prefix_is_valid(const char *prefix)
{
    if (!prefix)
        return false;
    size_t n = strnlen(prefix, STORAGE_KEY_MAX + 1);
    if (n == 0)
        return true;
    if (n > STORAGE_KEY_MAX || prefix[0] == '/')
        return false;
    return components_ok(prefix, n, true);
}

static int bad_key(struct storage *st, const char *what, const char *key, struct errbuf *eb)
{
    (void)st;
    /* Keys are not secrets, but may be hostile: print a bounded prefix. */
    return errbuf_set(eb, RC_INVALID, "storage: invalid %s \"%.200s\"", what, key ? key : "(null)");
}

static int count_err(struct storage *st, int rc)
{
    if (rc != RC_OK && rc != RC_NOT_FOUND && rc != RC_EXISTS)
        metric_inc(st->m_errors);
    return rc;
}

int storage_staging_path(struct storage *st, const char *key, char *buf, size_t cap,
                         struct errbuf *eb)
{
    if (!storage_key_is_valid(key))
        return bad_key(st, "key", key, eb);
    return count_err(st, st->ops->staging_path(st, key, buf, cap, eb));
}

int storage_put_file(struct storage *st, const char *local_path, const char *key, unsigned flags,
                     uint64_t *out_bytes, struct errbuf *eb)
{
    if (!storage_key_is_valid(key))
        return bad_key(st, "key", key, eb);
    int rc = inject_fault(st, "put", key, eb);
    if (rc != RC_OK)
        return rc;
    uint64_t bytes = 0;
    rc = st->ops->put_file(st, local_path, key, flags, &bytes, eb);
    if (rc == RC_OK) {
        metric_inc(st->m_writes);
        metric_add(st->m_write_bytes, bytes);
        if (out_bytes)
            *out_bytes = bytes;
    }
    return count_err(st, rc);
}

int storage_get_file(struct storage *st, const char *key, const char *local_path, struct errbuf *eb)
{
    if (!storage_key_is_valid(key))
        return bad_key(st, "key", key, eb);
    metric_inc(st->m_reads);
    int rc = inject_fault(st, "get", key, eb);
    if (rc != RC_OK)
        return rc;
    return count_err(st, st->ops->get_file(st, key, local_path, eb));
}

int storage_read_range(struct storage *st, const char *key, uint64_t offset, void *buf, size_t len,
                       size_t *out_len, struct errbuf *eb)
{
    if (!storage_key_is_valid(key))
        return bad_key(st, "key", key, eb);
    metric_inc(st->m_reads);
    int rc = inject_fault(st, "get_range", key, eb);
    if (rc != RC_OK)
        return rc;
    return count_err(st, st->ops->read_range(st, key, offset, buf, len, out_len, eb));
}

int storage_head(struct storage *st, const char *key, struct storage_object_info *out,
                 struct errbuf *eb)
{
    if (!storage_key_is_valid(key))
        return bad_key(st, "key", key, eb);
    int rc = inject_fault(st, "head", key, eb);
    if (rc != RC_OK)
        return rc;
    return count_err(st, st->ops->head(st, key, out, eb));
}

/* Listing filter: a backend may return hidden names (S3 lists everything);
 * this wrapper guarantees the SPEC §0.4 rule for all of them. */
struct list_filter {
    storage_list_fn fn;
    void *ctx;
};

static int list_filter_cb(void *ctx, const char *key, uint64_t size_bytes, int64_t mtime_us)
{
    struct list_filter *lf = ctx;
    const char *c = key;
    for (;;) {
        const char *slash = strchr(c, '/');
        size_t n = slash ? (size_t)(slash - c) : strlen(c);
        if (storage__component_hidden(c, n))
            return RC_OK;
        if (!slash)
            break;
        c = slash + 1;
    }
    return lf->fn(lf->ctx, key, size_bytes, mtime_us);
}

int storage_list(struct storage *st, const char *prefix, storage_list_fn fn, void *ctx,
                 struct errbuf *eb)
{
    if (!prefix)
        prefix = "";
    if (!storage__prefix_is_valid(prefix))
        return bad_key(st, "prefix", prefix, eb);
    int rc = inject_fault(st, "list", prefix, eb);
    if (rc != RC_OK)
        return rc;
    struct list_filter lf = {fn, ctx};
    return count_err(st, st->ops->list(st, prefix, list_filter_cb, &lf, eb));
}

int storage_delete(struct storage *st, const char *key, struct errbuf *eb)
{
    if (!storage_key_is_valid(key))
        return bad_key(st, "key", key, eb);
    int rc = inject_fault(st, "delete", key, eb);
    if (rc != RC_OK)
        return rc;
    return count_err(st, st->ops->delete_one(st, key, eb));
}

int storage_delete_many(struct storage *st, const char *const *keys, size_t n, size_t *out_failed,
                        struct errbuf *eb)
{
    int frc = inject_fault(st, "delete_many", n && keys[0] ? keys[0] : "", eb);
    if (frc != RC_OK) {
        if (out_failed)
            *out_failed = n;
        return frc;
    }
    size_t failed = 0;
    int first = RC_OK;
    /* Invalid keys are reported but do not stop the valid ones. */
    const char **valid = xmalloc((n ? n : 1) * sizeof(*valid));
    size_t nvalid = 0;
    for (size_t i = 0; i < n; i++) {
        if (storage_key_is_valid(keys[i])) {
            valid[nvalid++] = keys[i];
        } else {
            failed++;
            if (first == RC_OK)
                first = bad_key(st, "key", keys[i], eb);
        }
    }
    if (st->ops->delete_many) {
        size_t f = 0;
        int rc = st->ops->delete_many(st, valid, nvalid, &f, eb);
        failed += f;
        if (first == RC_OK)
            first = count_err(st, rc);
    } else {
        for (size_t i = 0; i < nvalid; i++) {
            int rc = count_err(st, st->ops->delete_one(st, valid[i], eb));
            if (rc != RC_OK) {
                failed++;
                if (first == RC_OK)
                    first = rc;
            }
        }
    }
    xfree(valid);
    if (out_failed)
        *out_failed = failed;
    return first;
}
