/*
 * storage/storage_internal.h — the backend vtable behind struct storage.
 * Included only by the .c files of src/storage/.
 *
 * storage.c validates keys, counts metrics and dispatches; a backend only
 * implements the operations below on keys that are already known to be valid
 * (storage_key_is_valid) and prefixes checked by storage__prefix_is_valid.
 * Every operation must be thread-safe.
 */
#ifndef STORAGE_STORAGE_INTERNAL_H
#define STORAGE_STORAGE_INTERNAL_H

#include "storage/storage.h"

struct storage_ops {
    const char *name; /* "local", "s3" */
    int (*staging_path)(struct storage *st, const char *key, char *buf, size_t cap,
                        struct errbuf *eb);
    int (*put_file)(struct storage *st, const char *local_path, const char *key, unsigned flags,
                    uint64_t *out_bytes, struct errbuf *eb);
    int (*get_file)(struct storage *st, const char *key, const char *local_path, struct errbuf *eb);
    int (*read_range)(struct storage *st, const char *key, uint64_t offset, void *buf, size_t len,
                      size_t *out_len, struct errbuf *eb);
    int (*head)(struct storage *st, const char *key, struct storage_object_info *out,
                struct errbuf *eb);
    int (*list)(struct storage *st, const char *prefix, storage_list_fn fn, void *ctx,
                struct errbuf *eb);
    int (*delete_one)(struct storage *st, const char *key, struct errbuf *eb);
    /* May be NULL: storage.c then loops over delete_one. */
    int (*delete_many)(struct storage *st, const char *const *keys, size_t n, size_t *out_failed,
                       struct errbuf *eb);
    const char *(*local_root)(const struct storage *st);
    void (*destroy)(struct storage *st); /* frees backend state, not the struct storage */
};

struct metric;

struct storage {
    /* Set once at construction, never changed afterwards. */
    const struct storage_ops *ops;
    void *impl;                   /* backend state, owned by the backend */
    struct metric *m_writes;      /* arc_storage_writes_total */
    struct metric *m_write_bytes; /* arc_storage_write_bytes_total */
    struct metric *m_reads;       /* arc_storage_reads_total */
    struct metric *m_errors;      /* arc_storage_errors_total */
    struct metric *m_timeouts;    /* arc_storage_timeouts_total (fault hook storage_hang) */
    /* How long the storage_hang fault hook blocks an operation, ms: the
     * backend's request timeout. Set at construction (storage__new: 60 s;
     * s3: its request timeout) or by storage_set_request_timeout_ms before
     * the storage is shared; read-only afterwards. */
    long fault_hang_ms;
};

/* Wraps a backend: allocates the struct storage and registers its metrics. */
struct storage *storage__new(const struct storage_ops *ops, void *impl);

/* Prefix rule of storage_list: "" or a key-like string that may end with
 * '/' and whose last component may be partial. */
bool storage__prefix_is_valid(const char *prefix);

/* True if a key component (not NUL-terminated, length n) is hidden: starts
 * with '.' or '_'. */
static inline bool storage__component_hidden(const char *c, size_t n)
{
    return n > 0 && (c[0] == '.' || c[0] == '_');
}

#endif
