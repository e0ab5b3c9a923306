/*
 * storage/s3.h — the S3-compatible backend of storage.h: Amazon S3, MinIO,
 * Cloudflare R2, Ceph RGW, Wasabi, and Google Cloud Storage through its
 * S3-interoperable XML API with HMAC keys (docs/s3.md).
 *
 * The backend is created here and then used only through storage.h. Object
 * `key` is stored as {prefix}{key} in the bucket; listings strip the prefix.
 * A put is one PUT (files up to multipart_threshold_bytes) or a completed
 * multipart upload (larger files; aborted on failure), so an object is
 * visible only when complete (SPEC §3.3).
 *
 * Every HTTP request has a connect timeout, a request timeout and a stall
 * detector, and every operation (with its retries) a deadline (SPEC §11 R2).
 * Timeouts, connection errors, 5xx and 429 are retried with exponential
 * back-off and jitter (capped at 10 s per wait); after breaker_threshold
 * consecutive failed requests a circuit breaker fails requests fast for
 * breaker_cooldown_ms, then lets one probe through.
 *
 * Secrets (secret key, session token) are copied into the backend, never
 * logged, never put into error messages, and wiped when it is freed.
 *
 * Metrics (besides storage.h's): arc_storage_timeouts_total{backend="s3"},
 * arc_storage_retries_total{backend="s3"},
 * arc_storage_circuit_open_total{backend="s3"} (times it opened),
 * arc_storage_circuit_rejected_total{backend="s3"} (requests failed fast),
 * arc_storage_circuit_state{backend="s3"} (0 closed, 1 open, 2 half-open).
 *
 * Thread-safety: everything in storage.h may be called concurrently; the
 * functions below are called once at startup (options) or read-only.
 */
#ifndef STORAGE_S3_H
#define STORAGE_S3_H

#include <stdbool.h>
#include <stddef.h>

#include "storage/storage.h"
#include "util/config.h"
#include "util/rc.h"

/* Defaults applied by s3_options_init and for zero fields in storage_new_s3. */
#define S3_DEFAULT_MULTIPART_THRESHOLD_BYTES ((size_t)64 << 20)
#define S3_DEFAULT_PART_SIZE_BYTES ((size_t)16 << 20)
#define S3_MIN_PART_SIZE_BYTES ((size_t)5 << 20) /* S3's minimum (all parts but the last) */
#define S3_DEFAULT_BREAKER_THRESHOLD 5
#define S3_DEFAULT_BREAKER_COOLDOWN_MS 30000L
#define S3_DEFAULT_RETRY_BASE_MS 200L
#define S3_MAX_BACKOFF_MS 10000L /* SPEC §10.2: back-off capped at 10 s per wait */

/* Connection settings. Strings are borrowed by the caller and copied by
 * storage_new_s3. Use s3_options_init first, then set what you need. */
struct s3_options {
    const char *endpoint;             /* "" or NULL = AWS (s3.<region>.amazonaws.com); else
                                         "host[:port]" or "http(s)://host[:port][/base]"
                                         (a scheme wins over use_ssl) */
    const char *region;               /* signing region; "auto" for R2 / GCS */
    const char *bucket;               /* required */
    const char *prefix;               /* key prefix inside the bucket, e.g. "arc/"; "" = none */
    const char *access_key;           /* required (see s3_options_from_config for env) */
    const char *secret_key;           /* required; secret */
    const char *session_token;        /* "" or NULL = none; secret */
    bool use_ssl;                     /* https (certificates always verified) */
    bool path_style;                  /* https://host/bucket/key instead of bucket.host */
    long connect_timeout_s;           /* per request, TCP + TLS handshake */
    long request_timeout_s;           /* per request, whole transfer */
    long low_speed_limit_bytes;       /* abort a transfer slower than this ...  */
    long low_speed_time_s;            /* ... for this many seconds */
    long operation_timeout_s;         /* one operation including retries and back-off
                                         (a put: all parts; a list: each page) */
    int max_retries;                  /* retries after the first attempt */
    size_t multipart_threshold_bytes; /* files above this use multipart upload */
    size_t part_size_bytes;           /* multipart part size, >= 5 MiB */
    const char *staging_dir;          /* local directory for staging files (created) */
    /* Beyond the configuration file (tests, tuning); 0 / NULL = default. */
    int list_page_size;       /* max-keys per LIST request, 1..1000 (1000) */
    int breaker_threshold;    /* consecutive failed requests that open the circuit */
    long breaker_cooldown_ms; /* how long an open circuit fails fast */
    long retry_base_ms;       /* first back-off; doubles per retry, jittered */
    const char *ca_file;      /* PEM bundle instead of the system CAs */
    const char *service_name; /* backend name in metrics/logs: "s3" */
};

/* Fills o with the defaults of SPEC §10.2 (region us-east-1, https, 10 s
 * connect, 60 s request, 1024 B/s for 30 s, 300 s operation, 3 retries,
 * 64 MiB threshold, 16 MiB parts) and empty strings. */
void s3_options_init(struct s3_options *o);

/* Builds options for storage.backend = "s3", "minio" or "gcs" from cfg:
 *   s3    storage.s3.* as given;
 *   minio storage.minio.* (path-style always, region us-east-1 unless
 *         storage.s3.region was set, scheme of the endpoint wins over use_ssl);
 *   gcs   endpoint https://storage.googleapis.com, region "auto", path-style,
 *         HMAC key id/secret as access/secret key.
 * Storage timeouts and max_retries come from [storage]; the prefix from
 * storage.s3.prefix (all backends); staging_dir is storage.local.base_path.
 * Credentials: when the backend's access and secret keys are both empty,
 * AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN are used;
 * AWS_REGION (then AWS_DEFAULT_REGION) replaces storage.s3.region while
 * that key has its default value. Instance-profile and web-identity
 * credentials are not supported.
 * Returned strings are borrowed from cfg and the environment: keep both
 * unchanged until storage_new_s3 has copied them. RC_INVALID (message names
 * the key, never a secret) if the backend is not one of these, the bucket
 * is empty or credentials are missing. */
int s3_options_from_config(const struct config *cfg, struct s3_options *out,
                           struct errbuf *eb) MUST_CHECK;

/* Creates the backend (no network traffic: the first request connects).
 * Zero numeric fields take the defaults above. RC_INVALID for a missing
 * bucket or credentials, a malformed endpoint, a part size below 5 MiB or a
 * bad region; RC_IO if the staging directory cannot be created. On error
 * *out is untouched. Free with storage_free. */
int storage_new_s3(const struct s3_options *o, struct storage **out, struct errbuf *eb) MUST_CHECK;

/* True while the circuit breaker of an S3 backend is open or half-open (the
 * endpoint has been failing): /health reports storage as "degraded". False
 * for other backends. Reads in-memory state only; never blocks on I/O. */
bool storage_s3_circuit_open(const struct storage *st);

#endif
