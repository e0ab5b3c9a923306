/*
 * storage/storage.h — where Parquet files live: a small object-store
 * interface with a local-directory backend (local.c) and, later, S3 (s3.c).
 *
 * Objects are named by relative keys such as
 * "db/meas/2025/01/15/14/meas_20250115_140307_123456789.parquet" (SPEC §3.2).
 * A key is a '/'-separated list of non-empty components, none of which is
 * "." or ".."; it never starts or ends with '/', never contains a NUL or a
 * backslash and is at most STORAGE_KEY_MAX bytes. Every function validates its
 * key and returns RC_INVALID for a bad one, so a hostile name can never reach
 * outside the storage root.
 *
 * Writing is two-step so that a file is visible only when complete (SPEC
 * §3.3): the producer asks storage_staging_path() where to build the file,
 * writes it there, then storage_put_file() moves it to its key atomically
 * (local: fsync + rename + directory fsync; S3: one PUT or multipart upload).
 * Staging names start with '.', so listings never show them.
 *
 * The struct is opaque: callers see only these functions, and a backend is a
 * table of operations (storage_internal.h), so adding S3 changes no caller.
 *
 * Thread-safety: every function may be called from any thread concurrently.
 * Metrics: arc_storage_writes_total, arc_storage_write_bytes_total,
 * arc_storage_reads_total, arc_storage_errors_total,
 * arc_storage_timeouts_total (label backend="...").
 *
 * Fault hooks (util/faults.h, ARC_TEST_FAULTS; SPEC §11), applied here to
 * put, get, read_range, head, list, delete and delete_many of every backend:
 *   storage_fail  every operation fails at once: RC_S3 (remote backends) or
 *                 RC_IO (local), counted in arc_storage_errors_total;
 *   storage_hang  every operation blocks for the backend's request timeout
 *                 (storage.request_timeout_seconds), then fails with
 *                 RC_TIMEOUT, counted in arc_storage_timeouts_total and
 *                 logged with operation and key, like a real timeout.
 * staging_path does no storage I/O and is not affected.
 */
#ifndef STORAGE_STORAGE_H
#define STORAGE_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/rc.h"

#define STORAGE_KEY_MAX 1024

struct storage;

/* Metadata of one object. */
struct storage_object_info {
    uint64_t size_bytes;
    int64_t mtime_us; /* last modification, microseconds since the epoch (UTC) */
};

/* ---- construction ------------------------------------------------------ */

/* Opens a local-directory backend rooted at base_path, creating the directory
 * (mkdir -p, mode 0755) if needed. The path is copied. On error *out is
 * untouched. */
int storage_new_local(const char *base_path, struct storage **out, struct errbuf *eb) MUST_CHECK;

/* Releases the backend and sets *stp to NULL. Accepts NULL. No call on this
 * storage may be running or start afterwards. */
void storage_free(struct storage **stp);

/* "local", "s3", ... Never NULL; lives as long as the storage. */
const char *storage_backend_name(const struct storage *st);

/* Absolute-or-relative base directory of a local backend (as given to
 * storage_new_local, without trailing '/'); NULL for remote backends. Lives as
 * long as the storage. Readers such as DuckDB use it to open files in place. */
const char *storage_local_root(const struct storage *st);

/* Sets the request timeout of a backend that has none of its own (local:
 * storage.request_timeout_seconds) so that the storage_hang fault hook
 * (below) blocks for at most that long. S3 takes it from s3_options. Call
 * before the storage is shared with other threads. */
void storage_set_request_timeout_ms(struct storage *st, long ms);

/* ---- keys -------------------------------------------------------------- */

/* True if key obeys the rules at the top of this file. */
bool storage_key_is_valid(const char *key);

/* ---- writing ----------------------------------------------------------- */

/* Where a producer should create the file that will become `key`: a unique
 * local path whose file name starts with '.' and does not end in ".parquet".
 * For the local backend it is in the key's destination directory (created if
 * missing) so the later rename is atomic; remote backends use a local spool
 * directory. Writes the NUL-terminated path into buf. RC_LIMIT if cap is too
 * small, RC_INVALID for a bad key, RC_IO if the directory cannot be created.
 * The caller owns the file it creates there: it either hands it to
 * storage_put_file or unlinks it. */
int storage_staging_path(struct storage *st, const char *key, char *buf, size_t cap,
                         struct errbuf *eb) MUST_CHECK;

/* Flags of storage_put_file. */
#define STORAGE_PUT_NOREPLACE 1u /* fail with RC_EXISTS if `key` already exists */

/* Stores the complete local file `local_path` as object `key`, atomically: a
 * reader sees either no object or the whole file. The local backend fsyncs
 * the file, renames it into place (no-clobber with STORAGE_PUT_NOREPLACE) and
 * fsyncs the directory; the file is moved, not copied, when it is on the same
 * file system. On success the local file no longer exists and, if out_bytes
 * is not NULL, *out_bytes is the object size. On failure the local file is
 * left where it was (the caller removes it) and no object was created.
 * Returns RC_OK, RC_EXISTS (NOREPLACE and the key exists), RC_INVALID (bad
 * key), RC_NOT_FOUND (no local file), RC_IO / RC_S3. */
int storage_put_file(struct storage *st, const char *local_path, const char *key, unsigned flags,
                     uint64_t *out_bytes, struct errbuf *eb) MUST_CHECK;

/* ---- reading ----------------------------------------------------------- */

/* Copies the whole object `key` to the local file `local_path` (created or
 * truncated, mode 0644). RC_NOT_FOUND if the object does not exist. On error
 * a partially written local file is removed. */
int storage_get_file(struct storage *st, const char *key, const char *local_path,
                     struct errbuf *eb) MUST_CHECK;

/* Reads up to len bytes of object `key` starting at byte offset into buf;
 * *out_len is the number read (less than len only at the end of the object,
 * 0 when offset >= size). RC_NOT_FOUND if the object does not exist. */
int storage_read_range(struct storage *st, const char *key, uint64_t offset, void *buf, size_t len,
                       size_t *out_len, struct errbuf *eb) MUST_CHECK;

/* Size and modification time of `key`. RC_NOT_FOUND if it does not exist
 * (not counted as a storage error). */
int storage_head(struct storage *st, const char *key, struct storage_object_info *out,
                 struct errbuf *eb) MUST_CHECK;

/* Callback of storage_list: one object. key is valid only during the call.
 * Return RC_OK to continue; any other value stops the listing and is
 * returned by storage_list. */
typedef int (*storage_list_fn)(void *ctx, const char *key, uint64_t size_bytes, int64_t mtime_us);

/* Calls fn for every object whose key starts with `prefix` (string prefix,
 * as S3 does: "db/meas/" lists a measurement, "" everything), recursively.
 * Objects with any key component starting with '.' or '_' are skipped
 * (staging files, markers, internal data: SPEC §0.4). The order is
 * unspecified. A prefix that matches nothing is not an error. The prefix
 * must not contain "." / ".." components or start with '/'. */
int storage_list(struct storage *st, const char *prefix, storage_list_fn fn, void *ctx,
                 struct errbuf *eb) MUST_CHECK;

/* ---- deleting ---------------------------------------------------------- */

/* Deletes object `key`. Deleting a missing object succeeds (as on S3), so
 * cleanup paths can retry. Empty parent directories are left in place (a
 * concurrent writer may be about to use them). */
int storage_delete(struct storage *st, const char *key, struct errbuf *eb) MUST_CHECK;

/* Deletes keys[0..n). Tries every key even after a failure; returns the
 * first error (its detail in eb) and, if out_failed is not NULL, the number
 * of keys that could not be deleted. */
int storage_delete_many(struct storage *st, const char *const *keys, size_t n, size_t *out_failed,
                        struct errbuf *eb) MUST_CHECK;

#endif
