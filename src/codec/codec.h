/*
 * codec/codec.h — streaming, bounded request-body decoding (SPEC §1.2, §11 R4).
 *
 * The HTTP layer feeds the wire body to a struct body_decoder in pieces of any
 * size (even one byte) as libmicrohttpd delivers them. The decoder detects the
 * encoding (Content-Encoding header and/or magic bytes), decompresses gzip
 * (multi-member) and zstd (multi-frame) as a stream, and stops the moment the
 * decoded size would pass the configured cap: a few kilobytes of hostile gzip
 * never turn into gigabytes in memory (DESIGN invariant 3).
 *
 * Memory for one decoder is bounded by max_out_bytes + one decompression chunk
 * (CODEC_CHUNK_BYTES) + decoder state (zlib ~45 KiB; zstd up to its window,
 * at most 2^CODEC_ZSTD_WINDOW_LOG_MAX bytes). All of it is counted in a
 * process-wide in-flight budget (R4.4), see codec_inflight_*.
 *
 * Error codes map to HTTP statuses in http/: RC_UNSUPPORTED 415, RC_PARSE 400,
 * RC_LIMIT 413, RC_BUSY 503 + Retry-After.
 *
 * Threads: a decoder belongs to one request and is used by one thread at a
 * time. codec_encoding_from_header, codec_inflight_* and codec_stats_get are
 * thread-safe.
 */
#ifndef CODEC_CODEC_H
#define CODEC_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/rc.h"

/* Largest output produced by one decompression call; the cap is checked after
 * every such chunk. */
#define CODEC_CHUNK_BYTES (256u * 1024u)
/* zstd frames that need a window larger than 2^27 (128 MiB) are refused
 * (RC_PARSE): a hostile frame header must not make us allocate gigabytes. */
#define CODEC_ZSTD_WINDOW_LOG_MAX 27

/* --- Encodings ------------------------------------------------------------ */

enum codec_encoding {
    CODEC_AUTO = 0, /* decide by magic bytes: gzip, zstd, else identity */
    CODEC_IDENTITY, /* not compressed */
    CODEC_GZIP,
    CODEC_ZSTD,
};

/* Maps a Content-Encoding header value to an encoding: NULL, "" or "identity"
 * -> CODEC_AUTO (magic bytes still decide, as Arc does), "gzip"/"x-gzip" ->
 * CODEC_GZIP, "zstd" -> CODEC_ZSTD. Case-insensitive; surrounding spaces and
 * tabs are ignored. Anything else (br, deflate, lists such as "gzip, br") ->
 * RC_UNSUPPORTED, *out untouched, and the rejection is counted in
 * codec_stats.rejected_unsupported — so call it once per request. */
int codec_encoding_from_header(const char *value, enum codec_encoding *out) MUST_CHECK;

/* "auto", "identity", "gzip", "zstd". Never NULL. */
const char *codec_encoding_name(enum codec_encoding enc);

/* --- Streaming decoder ---------------------------------------------------- */

struct body_decoder;

/* New decoder. enc is what the header said (codec_encoding_from_header).
 * Whatever enc is, the first bytes of the body are checked for the gzip
 * (1F 8B) and zstd (28 B5 2F FD) magic and the magic wins: a body with gzip
 * magic is gunzipped even under "Content-Encoding: zstd" and vice versa
 * (Arc detects by magic; clients are not always consistent with the header).
 * A body without magic under a gzip/zstd header is decoded as the header says
 * (and so normally fails as corrupt, RC_PARSE).
 * max_out_bytes caps the decoded size (server.max_decompressed_size_mb); an
 * identity body is bounded by the same cap. Never returns NULL. Free with
 * body_decoder_free. */
struct body_decoder *body_decoder_new(enum codec_encoding enc, size_t max_out_bytes);

/* Frees the decoder, its buffer (unless detached) and releases its in-flight
 * reservation. Accepts NULL and *d == NULL; sets *d to NULL. */
void body_decoder_free(struct body_decoder **d);

/* Feeds n wire bytes (in may be NULL when n == 0). Returns:
 *   RC_OK
 *   RC_LIMIT   output would pass max_out_bytes ("decompressed body larger
 *              than <N> MB"; "request body larger than <N> MB" for identity);
 *   RC_PARSE   corrupt compressed data, or trailing garbage after the last
 *              gzip member / zstd frame (trailing zero bytes after a complete
 *              gzip member are tolerated, as gzip(1) and Python do);
 *   RC_BUSY    the in-flight budget is exhausted ("server busy: too many
 *              in-flight request bytes");
 *   RC_INVALID called after a successful body_decoder_finish.
 * On RC_LIMIT / RC_PARSE / RC_BUSY the output buffer and decoder state are
 * released at once, and every further feed/finish returns the same code and
 * message. eb may be NULL. */
int body_decoder_feed(struct body_decoder *d, const void *in, size_t n,
                      struct errbuf *eb) MUST_CHECK;

/* End of body. RC_PARSE if a compressed stream is truncated (incomplete gzip
 * member or zstd frame); a sticky earlier error is returned again. Releases
 * the decompressor state. Calling it twice is harmless. An empty wire body
 * decodes to an empty body whatever the header said (the caller rejects empty
 * bodies with 400 "Empty request body"). */
int body_decoder_finish(struct body_decoder *d, struct errbuf *eb) MUST_CHECK;

/* The decoded bytes so far (complete after a successful finish), followed by a
 * NUL that is not counted in *len. Owned by the decoder, valid until the next
 * feed, detach or free. Never NULL (an empty body is ""). */
const char *body_decoder_data(const struct body_decoder *d, size_t *len);

/* Takes the decoded body (NUL-terminated, NUL not counted in *len); the caller
 * frees it with xfree. Only after a successful finish; otherwise returns NULL
 * and *len = 0.
 * In-flight budget: the buffer is shrunk to its length and the reservation of
 * exactly *len bytes moves to the caller, who MUST call
 * codec_inflight_release(*len) once the buffer is freed (the rest of the
 * decoder's reservation is released by detach / body_decoder_free). The
 * decoder is left empty: data() and a second detach give "". */
char *body_decoder_detach(struct body_decoder *d, size_t *len);

/* The encoding in use: the detected one once known, before that the header's
 * (CODEC_AUTO while still undecided). After finish never CODEC_AUTO. */
enum codec_encoding body_decoder_encoding(const struct body_decoder *d);

/* Wire (compressed) bytes fed so far. */
size_t body_decoder_wire_bytes(const struct body_decoder *d);

/* Highest number of bytes this decoder held at once: output buffer plus
 * decompressor state (both allocated through util/mem). For tests and
 * metrics: stays <= max_out_bytes + CODEC_CHUNK_BYTES + decoder state. */
size_t body_decoder_peak_bytes(const struct body_decoder *d);

/* --- In-flight budget (R4.4) --------------------------------------------- */

/* Sets the process-wide budget of bytes held by all decoders and detached
 * bodies (server.max_inflight_body_mb). 0 = unlimited, the default. May be
 * called at any time; current reservations are kept. */
void codec_inflight_configure(size_t max_bytes);

/* Reserves n bytes; false (and nothing reserved) if that would pass the
 * budget. Thread-safe, lock-free. */
bool codec_inflight_reserve(size_t n) MUST_CHECK;

/* Returns n bytes reserved earlier. */
void codec_inflight_release(size_t n);

/* Bytes currently reserved. */
size_t codec_inflight_bytes(void);

/* --- Statistics (published by http/ as metrics) ------------------------- */

/* Counters since start. The HTTP layer publishes them as
 * arc_request_body_rejected_total{reason="decompressed_too_large"} =
 * rejected_too_large and {reason="bad_encoding"} = rejected_unsupported +
 * rejected_corrupt (codec does not link metrics/). */
struct codec_stats {
    uint64_t rejected_too_large;   /* RC_LIMIT from a decoder */
    uint64_t rejected_corrupt;     /* RC_PARSE from a decoder (corrupt, truncated) */
    uint64_t rejected_unsupported; /* RC_UNSUPPORTED from codec_encoding_from_header */
    uint64_t rejected_busy;        /* RC_BUSY: in-flight budget exhausted */
    uint64_t bodies_gzip;          /* decoders that detected gzip */
    uint64_t bodies_zstd;          /* ... zstd */
    uint64_t bodies_identity;      /* ... identity */
    uint64_t inflight_bytes;       /* codec_inflight_bytes() */
    uint64_t inflight_max_bytes;   /* configured budget, 0 = unlimited */
};

/* Fills *out with a snapshot. Thread-safe. */
void codec_stats_get(struct codec_stats *out);

#endif
