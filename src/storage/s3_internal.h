/*
 * storage/s3_internal.h — pieces of the S3 backend shared by s3.c and
 * s3_xml.c and reachable from unit tests: endpoint parsing and request
 * addressing (s3.c), and the small XML reader/writer for the few S3
 * responses we need (s3_xml.c). Included only by src/storage/s3*.c and
 * tests. No libcurl types appear here.
 */
#ifndef STORAGE_S3_INTERNAL_H
#define STORAGE_S3_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/rc.h"
#include "util/strbuf.h"

/* ---- endpoint and addressing (s3.c) -------------------------------------- */

/* A parsed endpoint. Strings are owned (s3__endpoint_cleanup). */
struct s3__endpoint {
    bool https;
    char *authority; /* "host[:port]" exactly as sent in the Host header */
    char *base_path; /* "" or "/base" (no trailing '/'), unencoded */
};

/* Parses endpoint ("" = AWS: s3.<region>.amazonaws.com over https unless
 * !use_ssl; "host[:port]"; "http(s)://host[:port][/base][/]"). A scheme in
 * the endpoint wins over use_ssl. RC_INVALID for an unknown scheme, an empty
 * host, user-info ('@'), a query or fragment, whitespace or control
 * characters, or a bad port. On error *out is zeroed. */
int s3__endpoint_parse(const char *endpoint, bool use_ssl, const char *region,
                       struct s3__endpoint *out, struct errbuf *eb) MUST_CHECK;
void s3__endpoint_cleanup(struct s3__endpoint *ep);

/* Where a request for `object` (the full object name inside the bucket,
 * prefix applied; NULL or "" = the bucket itself) goes:
 *   host      the Host header value (bucket.authority when virtual-hosted);
 *   path      the unencoded absolute path to sign (base, bucket when
 *             path-style, object);
 *   url       scheme://host + encoded path (no query).
 * Appends to the three strbufs (caller-initialised). */
int s3__target(const struct s3__endpoint *ep, const char *bucket, bool path_style,
               const char *object, struct strbuf *host, struct strbuf *path,
               struct strbuf *url) MUST_CHECK;

/* ---- XML (s3_xml.c) ------------------------------------------------------- */

/* Finds the next element <name ...>...</name> (or <name/>) starting at *pos
 * in xml[0..len). On success sets *inner / *inner_len to the raw content
 * (entities not decoded), advances *pos past the element and returns true.
 * Processing instructions, comments and CDATA sections are skipped when
 * looking for the start tag. Names match exactly ("Key" does not match
 * "KeyMarker"). */
bool s3__xml_find(const char *xml, size_t len, size_t *pos, const char *name, const char **inner,
                  size_t *inner_len);

/* Decodes character data s[0..n) (the five named entities, &#N; and &#xH;,
 * line-end normalisation) and appends it to out. RC_PARSE for an unknown or
 * malformed entity, a character reference to NUL, a surrogate or beyond
 * U+10FFFF; RC_LIMIT if out is capped. */
int s3__xml_unescape(struct strbuf *out, const char *s, size_t n) MUST_CHECK;

/* Appends s escaped for XML character data. RC_INVALID if s holds a
 * character XML 1.0 cannot carry (C0 controls other than TAB, LF, CR): such
 * keys must be handled without XML. */
int s3__xml_escape(struct strbuf *out, const char *s) MUST_CHECK;

/* Decoded text of the first <name> element in xml into out (NUL-terminated,
 * truncated to cap - 1 bytes). False (and out = "") if absent or undecodable. */
bool s3__xml_text(const char *xml, size_t len, const char *name, char *out, size_t cap);

/* One object of a ListObjectsV2 page: key (decoded, NUL-terminated, valid
 * during the call), size, last modification in microseconds (0 if absent or
 * unparsable). Return RC_OK to continue; anything else stops the parse and is
 * returned. */
typedef int (*s3__list_item_fn)(void *ctx, const char *key, uint64_t size_bytes, int64_t mtime_us);

/* Parses a ListBucketResult page: calls fn for every <Contents>, sets
 * *truncated from <IsTruncated> and replaces next_token with
 * <NextContinuationToken> (empty if none). RC_PARSE (message in eb) if the
 * document is not a ListBucketResult or an entry lacks <Key> or has a bad
 * <Size>. */
int s3__parse_list(const char *xml, size_t len, s3__list_item_fn fn, void *ctx, bool *truncated,
                   struct strbuf *next_token, struct errbuf *eb) MUST_CHECK;

/* Error response: true if xml holds an <Error> element; copies its <Code>
 * and <Message> (decoded, truncated). */
bool s3__parse_error(const char *xml, size_t len, char *code, size_t code_cap, char *msg,
                     size_t msg_cap);

/* Called by s3__parse_delete_result for every <Error> entry (key decoded). */
typedef void (*s3__delete_error_fn)(void *ctx, const char *key, const char *code, const char *msg);

/* Parses a DeleteResult: calls fn (may be NULL) for each <Error> and sets
 * *out_errors to their count. RC_PARSE if the document is not a
 * DeleteResult. */
int s3__parse_delete_result(const char *xml, size_t len, s3__delete_error_fn fn, void *ctx,
                            size_t *out_errors, struct errbuf *eb) MUST_CHECK;

#endif
