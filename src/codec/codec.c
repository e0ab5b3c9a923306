/*
 * codec/codec.c — streaming, bounded request-body decoding (see codec.h).
 *
 * What it does: turns the wire body of a write request, delivered in pieces of
 * any size, into the decoded body, detecting gzip / zstd by header and magic
 * bytes, and refusing (RC_LIMIT) the moment the output would pass the cap.
 *
 * What it owns: per decoder, the output buffer and the zlib / zstd state.
 * Process-wide, the in-flight byte budget (R4.4) and the rejection counters.
 *
 * Threads: a decoder is used by one request-handling thread at a time. The
 * budget and counters are C11 atomics, safe from any thread; there is no lock.
 *
 * DESIGN
 *
 *   Detection. Up to the first 4 wire bytes are kept in d->magic until the
 *   encoding can be decided (input may arrive one byte at a time):
 *       1F 8B ..        -> gzip  (whatever the header said; Arc trusts magic)
 *       28 B5 2F FD     -> zstd  (idem)
 *       otherwise       -> the header's encoding; identity if none/identity
 *   A still-ambiguous prefix at end of body (e.g. a 3-byte body "28 B5 2F")
 *   falls back to the header's encoding. An empty body is identity.
 *
 *   Bounded output. Decompressors write straight into the output buffer, at
 *   most CODEC_CHUNK_BYTES per call. The buffer grows geometrically (x2, from
 *   64 KiB) but never past max_out_bytes (+1 byte for a NUL), and each growth
 *   is reserved in the in-flight budget first (when the budget refuses the
 *   doubled size, the buffer grows only to the next whole chunk). Once the buffer holds exactly
 *   max_out_bytes, decompression continues into an 8-byte probe: producing
 *   any byte there means the body is larger than the cap -> RC_LIMIT, and
 *   everything is freed at once. So "exactly the cap" is accepted, "cap + 1"
 *   is not, and the output never exceeds the cap whatever the ratio.
 *
 *   Decoder state. zlib and zstd allocate through state_alloc(), which goes
 *   through util/mem and reserves the bytes in the in-flight budget too; a
 *   refused reservation surfaces as RC_BUSY. zstd windows are capped at
 *   2^CODEC_ZSTD_WINDOW_LOG_MAX. The zstd custom allocator needs
 *   ZSTD_createDStream_advanced (ZSTD_STATIC_LINKING_ONLY); its ZSTD_customMem
 *   struct has been unchanged since zstd 1.0 and the symbol is exported by the
 *   shared libzstd.
 *
 *   gzip members (state machine in d->gz, driven by gzip_feed):
 *       GZ_MEMBER --Z_STREAM_END--> GZ_BETWEEN --non-zero byte--> GZ_MEMBER
 *                                   GZ_BETWEEN --zero byte------> GZ_PADDING
 *       GZ_PADDING accepts only zero bytes (anything else: RC_PARSE).
 *       finish in GZ_MEMBER -> RC_PARSE (truncated).
 *   zlib runs with windowBits 16+15: gzip wrapper only, so a zlib or raw
 *   deflate stream after a gzip member is corrupt, not silently accepted.
 *
 *   zstd frames: ZSTD_decompressStream handles concatenated (and skippable)
 *   frames itself; its return value is 0 exactly at a frame boundary, so a
 *   non-zero value at finish means a truncated frame.
 *
 *   Errors are sticky: the first one's code and text are kept in the decoder
 *   and returned by every later call.
 */
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_createDStream_advanced, see DESIGN */

#include "codec/codec.h"

#include <assert.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "util/log.h"
#include "util/mem.h"

#define MIB ((size_t)1024 * 1024)
#define INITIAL_CAP ((size_t)64 * 1024)
/* zlib counts input in uInt; larger pieces are fed in slices of this size. */
#define ZLIB_MAX_IN ((size_t)1 << 30)

static const unsigned char gzip_magic[2] = {0x1F, 0x8B};
static const unsigned char zstd_magic[4] = {0x28, 0xB5, 0x2F, 0xFD};

/* --- In-flight budget and counters ---------------------------------------- */

static _Atomic size_t inflight_max_bytes; /* 0 = unlimited */
static _Atomic size_t inflight_cur_bytes;

static _Atomic uint64_t n_too_large, n_corrupt, n_unsupported, n_busy;
static _Atomic uint64_t n_gzip, n_zstd, n_identity;

void codec_inflight_configure(size_t max_bytes)
{
    atomic_store(&inflight_max_bytes, max_bytes);
}

bool codec_inflight_reserve(size_t n)
{
    if (n == 0)
        return true;
    size_t max = atomic_load(&inflight_max_bytes);
    size_t cur = atomic_load(&inflight_cur_bytes);
    do {
        if (n > SIZE_MAX - cur)
            return false;
        if (max && cur + n > max)
            return false;
    } while (!atomic_compare_exchange_weak(&inflight_cur_bytes, &cur, cur + n));
    return true;
}

void codec_inflight_release(size_t n)
{
    size_t prev = atomic_fetch_sub(&inflight_cur_bytes, n);
    assert(prev >= n); /* releasing more than was reserved is a caller bug */
    (void)prev;
}

size_t codec_inflight_bytes(void)
{
    return atomic_load(&inflight_cur_bytes);
}

void codec_stats_get(struct codec_stats *out)
{
    out->rejected_too_large = atomic_load(&n_too_large);
    out->rejected_corrupt = atomic_load(&n_corrupt);
    out->rejected_unsupported = atomic_load(&n_unsupported);
    out->rejected_busy = atomic_load(&n_busy);
    out->bodies_gzip = atomic_load(&n_gzip);
    out->bodies_zstd = atomic_load(&n_zstd);
    out->bodies_identity = atomic_load(&n_identity);
    out->inflight_bytes = atomic_load(&inflight_cur_bytes);
    out->inflight_max_bytes = atomic_load(&inflight_max_bytes);
}

/* --- Encodings ------------------------------------------------------------ */

int codec_encoding_from_header(const char *value, enum codec_encoding *out)
{
    if (!value) {
        *out = CODEC_AUTO;
        return RC_OK;
    }
    const char *b = value;
    while (*b == ' ' || *b == '\t')
        b++;
    size_t n = strlen(b);
    while (n > 0 && (b[n - 1] == ' ' || b[n - 1] == '\t'))
        n--;
    struct {
        const char *name;
        enum codec_encoding enc;
    } names[] = {
        {"", CODEC_AUTO},       {"identity", CODEC_AUTO}, {"gzip", CODEC_GZIP},
        {"x-gzip", CODEC_GZIP}, {"zstd", CODEC_ZSTD},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strlen(names[i].name) == n && strncasecmp(b, names[i].name, n) == 0) {
            *out = names[i].enc;
            return RC_OK;
        }
    }
    atomic_fetch_add(&n_unsupported, 1);
    return RC_UNSUPPORTED;
}

const char *codec_encoding_name(enum codec_encoding enc)
{
    switch (enc) {
    case CODEC_AUTO: return "auto";
    case CODEC_IDENTITY: return "identity";
    case CODEC_GZIP: return "gzip";
    case CODEC_ZSTD: return "zstd";
    }
    return "unknown";
}

/* --- Decoder -------------------------------------------------------------- */

enum gz_state { GZ_MEMBER, GZ_BETWEEN, GZ_PADDING };

struct body_decoder {
    /* Fixed at creation. */
    enum codec_encoding header_enc; /* what Content-Encoding said */
    size_t max_out_bytes;           /* decoded-size cap */

    enum codec_encoding enc; /* detected; CODEC_AUTO until decided */
    unsigned char magic[4];  /* first wire bytes, kept until decided */
    size_t magic_len;

    int err; /* sticky error code, RC_OK if none */
    char err_msg[ERRBUF_SIZE];
    bool finished; /* finish succeeded */

    char *out;              /* xmalloc'ed out_cap + 1 bytes (NUL), or NULL */
    size_t out_len;         /* decoded bytes in out */
    size_t out_cap;         /* usable bytes in out, <= max_out_bytes */
    unsigned char probe[8]; /* overflow probe once out holds the cap */

    size_t state_bytes; /* zlib/zstd allocations (reserved), incl. headers */
    bool alloc_refused; /* a state allocation failed its reservation */
    size_t peak_bytes;  /* max of out allocation + state_bytes */
    size_t wire_bytes;  /* bytes fed */

    z_stream zs; /* gzip: valid when zs_ready */
    bool zs_ready;
    enum gz_state gz;
    ZSTD_DStream *zds; /* zstd: or NULL */
    size_t zstd_hint;  /* last ZSTD_decompressStream result; 0 = frame boundary */
};

static void note_peak(struct body_decoder *d)
{
    size_t held = (d->out ? d->out_cap + 1 : 0) + d->state_bytes;
    if (held > d->peak_bytes)
        d->peak_bytes = held;
}

/* Allocation header for decoder state: zlib and zstd free without a size, so
 * the size (needed to release the reservation) is stored in front. The union
 * keeps the returned pointer max-aligned. */
union state_hdr {
    size_t total;
    max_align_t align;
};

static void *state_alloc(struct body_decoder *d, size_t n)
{
    if (n > SIZE_MAX - sizeof(union state_hdr))
        return NULL;
    size_t total = n + sizeof(union state_hdr);
    if (!codec_inflight_reserve(total)) {
        d->alloc_refused = true;
        return NULL;
    }
    union state_hdr *h = xmalloc(total);
    h->total = total;
    d->state_bytes += total;
    note_peak(d);
    return h + 1;
}

static void state_free(struct body_decoder *d, void *p)
{
    if (!p)
        return;
    union state_hdr *h = (union state_hdr *)p - 1;
    size_t total = h->total;
    assert(d->state_bytes >= total);
    d->state_bytes -= total;
    codec_inflight_release(total);
    xfree(h);
}

static voidpf zlib_alloc(voidpf opaque, uInt items, uInt size)
{
    if (size && items > SIZE_MAX / size)
        return Z_NULL;
    size_t n = (size_t)items * size;
    void *p = state_alloc(opaque, n);
    if (p)
        memset(p, 0, n); /* zlib state is small; zeroed keeps valgrind/msan quiet */
    return p;
}

static void zlib_free(voidpf opaque, voidpf p)
{
    state_free(opaque, p);
}

static void *zstd_alloc(void *opaque, size_t n)
{
    return state_alloc(opaque, n);
}

static void zstd_free(void *opaque, void *p)
{
    state_free(opaque, p);
}

/* Frees zlib / zstd state (and with it its reservation). */
static void release_state(struct body_decoder *d)
{
    if (d->zs_ready) {
        inflateEnd(&d->zs);
        d->zs_ready = false;
    }
    if (d->zds) {
        ZSTD_freeDStream(d->zds);
        d->zds = NULL;
    }
}

static void release_out(struct body_decoder *d)
{
    if (d->out) {
        xfree(d->out);
        codec_inflight_release(d->out_cap + 1);
    }
    d->out = NULL;
    d->out_len = 0;
    d->out_cap = 0;
}

/* "<N>" of "larger than <N> MB": whole MiB as an integer, else a decimal. */
static void format_mb(size_t bytes, char *buf, size_t n)
{
    if (bytes % MIB == 0)
        snprintf(buf, n, "%zu", bytes / MIB);
    else
        snprintf(buf, n, "%.6g", (double)bytes / (double)MIB);
}

/* Records the decoder's sticky error, releases all its memory at once, counts
 * and logs the rejection. Returns rc. */
static int fail(struct body_decoder *d, struct errbuf *eb, int rc, const char *fmt, ...)
    ARC_PRINTF(4, 5);
static int fail(struct body_decoder *d, struct errbuf *eb, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->err_msg, sizeof(d->err_msg), fmt, ap);
    va_end(ap);
    d->err = rc;
    size_t decoded = d->out_len;
    release_state(d);
    release_out(d);
    switch (rc) {
    case RC_LIMIT:
        atomic_fetch_add(&n_too_large, 1);
        log_info("codec",
                 "body rejected reason=decompressed_too_large encoding=%s wire_bytes=%zu "
                 "decoded_bytes=%zu max_bytes=%zu",
                 codec_encoding_name(d->enc), d->wire_bytes, decoded, d->max_out_bytes);
        break;
    case RC_BUSY:
        atomic_fetch_add(&n_busy, 1);
        log_info("codec", "body rejected reason=inflight_budget encoding=%s inflight_bytes=%zu",
                 codec_encoding_name(d->enc), codec_inflight_bytes());
        break;
    case RC_PARSE:
        atomic_fetch_add(&n_corrupt, 1);
        log_debug("codec", "body rejected reason=bad_encoding encoding=%s wire_bytes=%zu msg=%s",
                  codec_encoding_name(d->enc), d->wire_bytes, d->err_msg);
        break;
    default: break;
    }
    return errbuf_set(eb, rc, "%s", d->err_msg);
}

static int fail_limit(struct body_decoder *d, struct errbuf *eb)
{
    char mb[32];
    format_mb(d->max_out_bytes, mb, sizeof(mb));
    return fail(d, eb, RC_LIMIT, "%s body larger than %s MB",
                d->enc == CODEC_IDENTITY ? "request" : "decompressed", mb);
}

static int fail_busy(struct body_decoder *d, struct errbuf *eb)
{
    return fail(d, eb, RC_BUSY, "server busy: too many in-flight request bytes");
}

/* Allocation failure reported by zlib/zstd: the budget refused it (RC_BUSY),
 * or a real failure (util/mem aborts on OOM, so this is unexpected). */
static int fail_alloc(struct body_decoder *d, struct errbuf *eb, const char *what)
{
    if (d->alloc_refused)
        return fail_busy(d, eb);
    return fail(d, eb, RC_NOMEM, "%s decoder out of memory", what);
}

struct body_decoder *body_decoder_new(enum codec_encoding enc, size_t max_out_bytes)
{
    struct body_decoder *d = xcalloc(1, sizeof(*d));
    d->header_enc = enc;
    /* Keeps out_cap + 1 and the growth arithmetic far from overflow. */
    d->max_out_bytes = max_out_bytes > SIZE_MAX / 4 ? SIZE_MAX / 4 : max_out_bytes;
    d->enc = CODEC_AUTO;
    d->zstd_hint = 1;
    return d;
}

void body_decoder_free(struct body_decoder **pd)
{
    if (!pd || !*pd)
        return;
    struct body_decoder *d = *pd;
    release_state(d);
    release_out(d);
    assert(d->state_bytes == 0);
    xfree(d);
    *pd = NULL;
}

/* Grows the output buffer so that it can hold `need` bytes (need <=
 * max_out_bytes): geometric, clamped to the cap, reserved first. If the
 * budget refuses the doubled size, settles for need rounded up to a chunk,
 * else RC_BUSY. */
static int out_grow(struct body_decoder *d, size_t need, struct errbuf *eb)
{
    assert(need <= d->max_out_bytes);
    if (need <= d->out_cap && d->out)
        return RC_OK;
    size_t new_cap = d->out_cap * 2;
    if (new_cap < INITIAL_CAP)
        new_cap = INITIAL_CAP;
    if (new_cap < need)
        new_cap = need;
    if (new_cap > d->max_out_bytes)
        new_cap = d->max_out_bytes;
    size_t old_alloc = d->out ? d->out_cap + 1 : 0;
    if (!codec_inflight_reserve(new_cap + 1 - old_alloc)) {
        /* Doubling would pass the budget: under pressure grow only to `need`
         * rounded up to a whole chunk, so a body that fits is not refused
         * for geometric slack, and growth never goes byte by byte. */
        size_t small_cap = (need + CODEC_CHUNK_BYTES - 1) / CODEC_CHUNK_BYTES * CODEC_CHUNK_BYTES;
        if (small_cap > d->max_out_bytes)
            small_cap = d->max_out_bytes;
        if (small_cap >= new_cap || !codec_inflight_reserve(small_cap + 1 - old_alloc))
            return fail_busy(d, eb);
        new_cap = small_cap;
    }
    /* glibc serves large blocks with mmap and grows them with mremap, so this
     * does not hold old + new copies at once. */
    d->out = xrealloc(d->out, new_cap + 1);
    d->out_cap = new_cap;
    d->out[d->out_len] = '\0';
    note_peak(d);
    return RC_OK;
}

/* Where the next decompression call writes: free space in the output buffer
 * (grown if full) limited to one chunk, or the probe once the buffer holds the
 * cap. */
static int out_window(struct body_decoder *d, unsigned char **p, size_t *n, bool *is_probe,
                      struct errbuf *eb)
{
    if (d->out_len == d->out_cap || !d->out) {
        if (d->out_len >= d->max_out_bytes) {
            *p = d->probe;
            *n = sizeof(d->probe);
            *is_probe = true;
            return RC_OK;
        }
        int rc = out_grow(d, d->out_len + 1, eb);
        if (rc != RC_OK)
            return rc;
    }
    size_t room = d->out_cap - d->out_len;
    *p = (unsigned char *)d->out + d->out_len;
    *n = room < CODEC_CHUNK_BYTES ? room : CODEC_CHUNK_BYTES;
    *is_probe = false;
    return RC_OK;
}

/* Accounts `produced` bytes written into the window from out_window. */
static int out_commit(struct body_decoder *d, size_t produced, bool is_probe, struct errbuf *eb)
{
    if (is_probe) {
        if (produced > 0)
            return fail_limit(d, eb);
        return RC_OK;
    }
    d->out_len += produced;
    d->out[d->out_len] = '\0';
    return RC_OK;
}

static int identity_feed(struct body_decoder *d, const unsigned char *in, size_t n,
                         struct errbuf *eb)
{
    if (n == 0)
        return RC_OK;
    if (n > d->max_out_bytes - d->out_len)
        return fail_limit(d, eb);
    int rc = out_grow(d, d->out_len + n, eb);
    if (rc != RC_OK)
        return rc;
    memcpy(d->out + d->out_len, in, n);
    d->out_len += n;
    d->out[d->out_len] = '\0';
    return RC_OK;
}

static int gzip_feed(struct body_decoder *d, const unsigned char *in, size_t n, struct errbuf *eb)
{
    bool out_full = false; /* the last call filled its window: more output may be pending */
    for (;;) {
        if (d->gz == GZ_BETWEEN && n > 0) {
            if (in[0] == 0) {
                d->gz = GZ_PADDING;
            } else {
                if (inflateReset(&d->zs) != Z_OK)
                    return fail(d, eb, RC_INTERNAL, "gzip decoder reset failed");
                d->gz = GZ_MEMBER;
            }
        }
        if (d->gz == GZ_PADDING) {
            for (size_t i = 0; i < n; i++) {
                if (in[i] != 0)
                    return fail(d, eb, RC_PARSE, "corrupt gzip data: trailing garbage");
            }
            return RC_OK;
        }
        if (n == 0 && !out_full)
            return RC_OK;

        unsigned char *w;
        size_t wn;
        bool is_probe;
        int rc = out_window(d, &w, &wn, &is_probe, eb);
        if (rc != RC_OK)
            return rc;
        size_t in_now = n < ZLIB_MAX_IN ? n : ZLIB_MAX_IN;
        d->zs.next_in = (Bytef *)in; /* zlib's API is not const-correct */
        d->zs.avail_in = (uInt)in_now;
        d->zs.next_out = w;
        d->zs.avail_out = (uInt)wn;
        int zr = inflate(&d->zs, Z_NO_FLUSH);
        size_t used = in_now - d->zs.avail_in;
        size_t produced = wn - d->zs.avail_out;
        in += used;
        n -= used;
        switch (zr) {
        case Z_OK: break;
        case Z_STREAM_END: d->gz = GZ_BETWEEN; break;
        case Z_BUF_ERROR:
            /* No progress possible: everything pending was flushed and the
             * input is used up. With input left it cannot happen (the window
             * is never empty); refuse rather than loop. */
            if (n > 0)
                return fail(d, eb, RC_PARSE, "corrupt gzip data: decoder made no progress");
            break;
        case Z_MEM_ERROR: return fail_alloc(d, eb, "gzip");
        case Z_NEED_DICT:
        case Z_DATA_ERROR:
            return fail(d, eb, RC_PARSE, "corrupt gzip data: %s",
                        d->zs.msg ? d->zs.msg : "invalid data");
        default: return fail(d, eb, RC_INTERNAL, "gzip decoder error %d", zr);
        }
        rc = out_commit(d, produced, is_probe, eb);
        if (rc != RC_OK)
            return rc;
        out_full = zr == Z_OK && produced == wn;
    }
}

static int zstd_fail(struct body_decoder *d, struct errbuf *eb, size_t r)
{
    switch (ZSTD_getErrorCode(r)) {
    case ZSTD_error_memory_allocation: return fail_alloc(d, eb, "zstd");
    case ZSTD_error_frameParameter_windowTooLarge:
        return fail(d, eb, RC_PARSE, "zstd frame needs a window larger than %u MiB",
                    (1u << CODEC_ZSTD_WINDOW_LOG_MAX) >> 20);
    default: return fail(d, eb, RC_PARSE, "corrupt zstd data: %s", ZSTD_getErrorName(r));
    }
}

static int zstd_feed(struct body_decoder *d, const unsigned char *in, size_t n, struct errbuf *eb)
{
    ZSTD_inBuffer ib = {in, n, 0};
    bool out_full = false;
    for (;;) {
        if (ib.pos == ib.size && !out_full)
            return RC_OK;
        unsigned char *w;
        size_t wn;
        bool is_probe;
        int rc = out_window(d, &w, &wn, &is_probe, eb);
        if (rc != RC_OK)
            return rc;
        ZSTD_outBuffer ob = {w, wn, 0};
        size_t before = ib.pos;
        size_t r = ZSTD_decompressStream(d->zds, &ob, &ib);
        if (ZSTD_isError(r))
            return zstd_fail(d, eb, r);
        bool progress = ob.pos > 0 || ib.pos > before;
        /* A call without progress (probing for pending output with no input
         * left) returns "header of a next frame wanted" after a complete
         * frame; only calls that did work say where we are. */
        if (progress)
            d->zstd_hint = r;
        rc = out_commit(d, ob.pos, is_probe, eb);
        if (rc != RC_OK)
            return rc;
        /* r == 0: frame complete and fully flushed, nothing is pending. */
        out_full = ob.pos == ob.size && r != 0;
        if (!progress && ib.pos < ib.size)
            return fail(d, eb, RC_PARSE, "corrupt zstd data: decoder made no progress");
    }
}

static int decode(struct body_decoder *d, const unsigned char *in, size_t n, struct errbuf *eb)
{
    switch (d->enc) {
    case CODEC_GZIP: return gzip_feed(d, in, n, eb);
    case CODEC_ZSTD: return zstd_feed(d, in, n, eb);
    case CODEC_IDENTITY: return identity_feed(d, in, n, eb);
    case CODEC_AUTO: break;
    }
    return fail(d, eb, RC_INTERNAL, "body decoder used before detection");
}

static bool prefix_of(const unsigned char *buf, size_t len, const unsigned char *magic,
                      size_t magic_len)
{
    size_t n = len < magic_len ? len : magic_len;
    return memcmp(buf, magic, n) == 0;
}

/* Decides the encoding from the buffered magic bytes; false if more bytes
 * are needed (never at end of body). */
static bool detect(const struct body_decoder *d, bool at_end, enum codec_encoding *out)
{
    bool gz = prefix_of(d->magic, d->magic_len, gzip_magic, sizeof(gzip_magic));
    bool zs = prefix_of(d->magic, d->magic_len, zstd_magic, sizeof(zstd_magic));
    if (d->magic_len == 0 && at_end) {
        *out = CODEC_IDENTITY; /* empty body: nothing to decode whatever the header said */
        return true;
    }
    if (gz && d->magic_len >= sizeof(gzip_magic)) {
        *out = CODEC_GZIP;
        return true;
    }
    if (zs && d->magic_len >= sizeof(zstd_magic)) {
        *out = CODEC_ZSTD;
        return true;
    }
    if ((gz || zs) && !at_end)
        return false;
    *out = d->header_enc == CODEC_AUTO ? CODEC_IDENTITY : d->header_enc;
    return true;
}

/* Sets the encoding, creates its decoder and decodes the buffered magic. */
static int start(struct body_decoder *d, enum codec_encoding enc, struct errbuf *eb)
{
    d->enc = enc;
    switch (enc) {
    case CODEC_GZIP: {
        atomic_fetch_add(&n_gzip, 1);
        d->zs.zalloc = zlib_alloc;
        d->zs.zfree = zlib_free;
        d->zs.opaque = d;
        int zr = inflateInit2(&d->zs, 16 + MAX_WBITS); /* gzip wrapper only */
        if (zr == Z_MEM_ERROR)
            return fail_alloc(d, eb, "gzip");
        if (zr != Z_OK)
            return fail(d, eb, RC_INTERNAL, "gzip decoder init failed: %d", zr);
        d->zs_ready = true;
        d->gz = GZ_MEMBER;
        break;
    }
    case CODEC_ZSTD: {
        atomic_fetch_add(&n_zstd, 1);
        ZSTD_customMem mem = {zstd_alloc, zstd_free, d};
        d->zds = ZSTD_createDStream_advanced(mem);
        if (!d->zds)
            return fail_alloc(d, eb, "zstd");
        size_t r = ZSTD_DCtx_setParameter(d->zds, ZSTD_d_windowLogMax, CODEC_ZSTD_WINDOW_LOG_MAX);
        if (ZSTD_isError(r))
            return fail(d, eb, RC_INTERNAL, "zstd decoder init failed: %s", ZSTD_getErrorName(r));
        d->zstd_hint = 1;
        break;
    }
    default:
        atomic_fetch_add(&n_identity, 1);
        d->enc = CODEC_IDENTITY;
        break;
    }
    size_t n = d->magic_len;
    d->magic_len = 0;
    return decode(d, d->magic, n, eb);
}

static int sticky(const struct body_decoder *d, struct errbuf *eb)
{
    return errbuf_set(eb, d->err, "%s", d->err_msg);
}

int body_decoder_feed(struct body_decoder *d, const void *in, size_t n, struct errbuf *eb)
{
    if (d->err != RC_OK)
        return sticky(d, eb);
    if (d->finished)
        return errbuf_set(eb, RC_INVALID, "body decoder fed after finish");
    const unsigned char *p = in;
    d->wire_bytes += n;
    if (d->enc == CODEC_AUTO) {
        size_t take = sizeof(d->magic) - d->magic_len;
        if (take > n)
            take = n;
        if (take) { /* in may be NULL when n == 0: no arithmetic on it then */
            memcpy(d->magic + d->magic_len, p, take);
            d->magic_len += take;
            p += take;
            n -= take;
        }
        enum codec_encoding enc;
        if (!detect(d, false, &enc))
            return RC_OK; /* fewer than 4 bytes so far: all input is in magic */
        int rc = start(d, enc, eb);
        if (rc != RC_OK)
            return rc;
    }
    return decode(d, p, n, eb);
}

int body_decoder_finish(struct body_decoder *d, struct errbuf *eb)
{
    if (d->err != RC_OK)
        return sticky(d, eb);
    if (d->finished)
        return RC_OK;
    if (d->enc == CODEC_AUTO) {
        enum codec_encoding enc;
        (void)detect(d, true, &enc);
        int rc = start(d, enc, eb);
        if (rc != RC_OK)
            return rc;
    }
    if (d->enc == CODEC_GZIP && d->gz == GZ_MEMBER)
        return fail(d, eb, RC_PARSE, "truncated gzip data: incomplete member");
    if (d->enc == CODEC_ZSTD && d->zstd_hint != 0)
        return fail(d, eb, RC_PARSE, "truncated zstd data: incomplete frame");
    release_state(d);
    d->finished = true;
    return RC_OK;
}

const char *body_decoder_data(const struct body_decoder *d, size_t *len)
{
    if (!d->out) {
        *len = 0;
        return "";
    }
    *len = d->out_len;
    return d->out;
}

char *body_decoder_detach(struct body_decoder *d, size_t *len)
{
    *len = 0;
    if (!d->finished || d->err != RC_OK)
        return NULL;
    if (!d->out)
        return xcalloc(1, 1); /* empty body: nothing reserved, nothing to release */
    size_t n = d->out_len;
    char *p = xrealloc(d->out, n + 1);
    /* The decoder held out_cap + 1 reserved bytes; the caller keeps n. */
    codec_inflight_release(d->out_cap + 1 - n);
    d->out = NULL;
    d->out_len = 0;
    d->out_cap = 0;
    *len = n;
    return p;
}

enum codec_encoding body_decoder_encoding(const struct body_decoder *d)
{
    return d->enc == CODEC_AUTO ? d->header_enc : d->enc;
}

size_t body_decoder_wire_bytes(const struct body_decoder *d)
{
    return d->wire_bytes;
}

size_t body_decoder_peak_bytes(const struct body_decoder *d)
{
    return d->peak_bytes;
}
