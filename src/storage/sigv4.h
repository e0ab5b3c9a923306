/*
 * storage/sigv4.h — AWS Signature Version 4 (header-based), pure computation:
 * no network, no clock, no global state. s3.c builds a request description,
 * asks for the Authorization header, and sends exactly the headers it signed.
 *
 * Canonicalisation follows the S3 flavour of SigV4:
 *   - the path is given UNENCODED and encoded exactly once here (every byte
 *     except A-Z a-z 0-9 - . _ ~ and '/' becomes %XX, upper-case hex); it is
 *     not normalised ("a//b" and "." segments are kept), as S3 requires;
 *   - query names and values are given unencoded, encoded the same way ('/'
 *     included), sorted by encoded name, then by encoded value; a parameter
 *     without value signs as "name=";
 *   - header names are lower-cased, values trimmed with inner runs of spaces
 *     and tabs collapsed to one space, repeated names joined with ',', sorted;
 *     every header given is signed (so give only what will be sent).
 * The caller sends the same encoded path/query (sigv4_uri_encode) so that
 * what is signed is what goes on the wire.
 *
 * Thread-safety: all functions are reentrant. Secrets passed in are never
 * copied into the outputs (only the access key id appears in Authorization).
 */
#ifndef STORAGE_SIGV4_H
#define STORAGE_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/rc.h"
#include "util/strbuf.h"

#define SIGV4_AMZ_DATE_LEN 16 /* "YYYYMMDDTHHMMSSZ" */
#define SIGV4_HEX_LEN 64      /* lower-case hex SHA-256 */
#define SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
#define SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* A name/value pair (query parameter or header). Strings are borrowed. A
 * query value of NULL is the same as "" (signed as "name="). */
struct sigv4_kv {
    const char *name;
    const char *value;
};

/* One request to sign. All pointers are borrowed for the duration of the
 * call. */
struct sigv4_request {
    const char *method;           /* "GET", "PUT", ... (used as given) */
    const char *path;             /* absolute, unencoded: "/bucket/a b.parquet" */
    const struct sigv4_kv *query; /* unencoded; any order */
    size_t nquery;
    const struct sigv4_kv *headers; /* every header to sign, including host and
                                       x-amz-date (and x-amz-content-sha256,
                                       x-amz-security-token for S3) */
    size_t nheaders;
    const char *payload_hash; /* 64 lower-case hex chars or "UNSIGNED-PAYLOAD" */
};

struct sigv4_credentials {
    const char *access_key; /* key id, appears in the Authorization header */
    const char *secret_key; /* secret, only used for key derivation */
};

struct sigv4_scope {
    const char *amz_date; /* "YYYYMMDDTHHMMSSZ", the x-amz-date header value */
    const char *region;   /* "us-east-1", "auto", ... */
    const char *service;  /* "s3" */
};

/* Optional intermediate results, for tests and debugging (never logged by
 * s3.c: they contain no secret, but they are long). */
struct sigv4_debug {
    struct strbuf canonical_request;
    struct strbuf string_to_sign;
    struct strbuf signed_headers;
    char signature[SIGV4_HEX_LEN + 1];
};

/* Computes the Authorization header value:
 *   "AWS4-HMAC-SHA256 Credential=<ak>/<date>/<region>/<service>/aws4_request,
 *    SignedHeaders=<h1;h2>, Signature=<hex>"
 * and appends it to out (a strbuf owned by the caller). dbg may be NULL; if
 * given, its strbufs must be initialised and are appended to.
 * RC_INVALID if a required field is missing, amz_date is malformed, a header
 * name is empty or not a token, a header value contains CR, LF or NUL (header
 * injection), or payload_hash is neither 64 hex chars nor UNSIGNED-PAYLOAD.
 * RC_LIMIT if out is capped too small. On error out may hold a partial
 * value. */
int sigv4_authorization(const struct sigv4_request *req, const struct sigv4_credentials *cred,
                        const struct sigv4_scope *scope, struct strbuf *out,
                        struct sigv4_debug *dbg, struct errbuf *eb) MUST_CHECK;

/* Appends s[0..n) percent-encoded (RFC 3986 unreserved bytes kept, upper-case
 * hex) to out; '/' is kept unless encode_slash. Returns the strbuf code. */
int sigv4_uri_encode(struct strbuf *out, const char *s, size_t n, bool encode_slash) MUST_CHECK;

/* Formats a microsecond UTC timestamp as "YYYYMMDDTHHMMSSZ" into
 * out[SIGV4_AMZ_DATE_LEN + 1]. */
void sigv4_amz_date(int64_t ts_us, char out[SIGV4_AMZ_DATE_LEN + 1]);

/* Lower-case hex SHA-256 of p[0..n) into out[SIGV4_HEX_LEN + 1]. */
void sigv4_sha256_hex(const void *p, size_t n, char out[SIGV4_HEX_LEN + 1]);

/* Lower-case hex of n bytes into out (2n + 1 bytes). */
void sigv4_hex(const unsigned char *p, size_t n, char *out);

/* Initialises / releases a debug record (cleanup accepts a zeroed one). */
void sigv4_debug_init(struct sigv4_debug *dbg);
void sigv4_debug_cleanup(struct sigv4_debug *dbg);

#endif
