/*
 * wal/wal_internal.h — declarations shared by the src/wal sources (and the WAL unit
 * tests): on-disk format, record encoding, the struct wal itself, the
 * start-up scan. Not part of the contract; see wal.h for that.
 *
 * On-disk format (docs/wal.md draws it too). All integers little-endian.
 *
 *   segment header (32 bytes)
 *     0  "ARCW"            magic
 *     4  u16 version       WAL_FORMAT_VERSION
 *     6  u16 header_len    32
 *     8  u64 segment seq   the {seq} of the file name
 *    16  i64 created_us    wall clock
 *    24  u32 flags         0
 *    28  u32 crc32c        of bytes 0..27
 *
 *   record (16-byte header + body), repeated to the end of the file
 *     0  "ARCR"            magic
 *     4  u32 crc32c        of bytes 8 .. 16+len (length, type and body)
 *     8  u32 len           body bytes
 *    12  u8  type          WALREC_DATA | WALREC_INTENT | WALREC_FLUSHED
 *    13  u8  flags         0
 *    14  u16 reserved      0
 *    16  body
 *
 *   DATA body:    u64 lsn, batch encoding (below)
 *   INTENT body:  u64 slot, i64 hour_start_us, u8 db_len, db, u8 meas_len,
 *                 meas, u16 key_len, key, u32 n, n LSNs (sorted; first as
 *                 uvarint, then uvarint deltas)
 *   FLUSHED body: u32 n, n LSNs (same encoding)
 *
 *   batch encoding:
 *     u8 db_len, db, u8 meas_len, meas, u32 nrows, u32 ncols,
 *     nrows × i64 time_us,
 *     per column: u16 name_len, name, u8 type (enum col_type), u8 flags
 *                 (bit 0 = tag, bit 1 = dictionary), validity bitmap
 *                 ((nrows+7)/8 bytes, bit r of byte r/8 = row r present,
 *                 unused bits 0), then the present values only, in row order:
 *                 DOUBLE/INT64/UINT64 8 bytes, BOOL 1 byte (0/1),
 *                 STRING u32 len + bytes;
 *                 or, for a STRING column with flag bit 1 (version 2):
 *                 u32 n, n × (u32 len + bytes) distinct values, u8 width
 *                 (1 or 2), then per present row a width-byte index < n.
 */
#ifndef WAL_WAL_INTERNAL_H
#define WAL_WAL_INTERNAL_H

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "wal/wal.h"

#include "util/mem.h"
#include "util/rc.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the WAL format is written with memcpy of native integers: little-endian hosts only"
#endif

/* Version 2 added dictionary-encoded string columns (column flag bit 1);
 * version 1 segments (no dictionaries) are still read. */
#define WAL_FORMAT_VERSION 2
#define WAL_FORMAT_VERSION_MIN 1
#define WAL_SEG_HDR_BYTES 32
#define WAL_REC_HDR_BYTES 16
#define WAL_ITEM_POOL 32                     /* finished items kept for reuse (wal.c) */
#define WAL_REC_MAX_BODY (UINT32_C(1) << 30) /* sanity bound when parsing: 1 GiB */

enum walrec_type {
    WALREC_DATA = 1,
    WALREC_INTENT = 2,
    WALREC_FLUSHED = 3,
};

/* ---- crc32c.c ------------------------------------------------------------ */

/* CRC-32C (Castagnoli) of p[0..n) continuing from crc (start with 0).
 * SSE4.2 instruction when the CPU has it, table-driven otherwise. */
uint32_t wal__crc32c(uint32_t crc, const void *p, size_t n);
/* The table-driven version alone (tests compare it with the instruction). */
uint32_t wal__crc32c_portable(uint32_t crc, const void *p, size_t n);

/* ---- byte buffers --------------------------------------------------------- */

/* Growable output buffer (xrealloc). */
struct wbuf {
    uint8_t *p;
    size_t len, cap;
};

void wal__wbuf_reserve(struct wbuf *w, size_t more);
static inline void wal__wbuf_put(struct wbuf *w, const void *src, size_t n)
{
    if (w->len + n > w->cap)
        wal__wbuf_reserve(w, n);
    if (n)
        memcpy(w->p + w->len, src, n);
    w->len += n;
}
static inline void wal__wbuf_u8(struct wbuf *w, uint8_t v)
{
    wal__wbuf_put(w, &v, 1);
}
static inline void wal__wbuf_u16(struct wbuf *w, uint16_t v)
{
    wal__wbuf_put(w, &v, 2);
}
static inline void wal__wbuf_u32(struct wbuf *w, uint32_t v)
{
    wal__wbuf_put(w, &v, 4);
}
static inline void wal__wbuf_u64(struct wbuf *w, uint64_t v)
{
    wal__wbuf_put(w, &v, 8);
}
void wal__wbuf_free(struct wbuf *w);

/* Bounds-checked reader: any read past the end sets `bad` and returns 0s. */
struct rbuf {
    const uint8_t *p;
    size_t len, off;
    bool bad;
};

static inline bool wal__rbuf_get(struct rbuf *r, void *dst, size_t n)
{
    if (r->bad || n > r->len - r->off) {
        r->bad = true;
        memset(dst, 0, n);
        return false;
    }
    memcpy(dst, r->p + r->off, n);
    r->off += n;
    return true;
}
static inline const uint8_t *wal__rbuf_take(struct rbuf *r, size_t n)
{
    if (r->bad || n > r->len - r->off) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *p = r->p + r->off;
    r->off += n;
    return p;
}
static inline uint8_t wal__rbuf_u8(struct rbuf *r)
{
    uint8_t v;
    wal__rbuf_get(r, &v, 1);
    return v;
}
static inline uint16_t wal__rbuf_u16(struct rbuf *r)
{
    uint16_t v;
    wal__rbuf_get(r, &v, 2);
    return v;
}
static inline uint32_t wal__rbuf_u32(struct rbuf *r)
{
    uint32_t v;
    wal__rbuf_get(r, &v, 4);
    return v;
}
static inline uint64_t wal__rbuf_u64(struct rbuf *r)
{
    uint64_t v;
    wal__rbuf_get(r, &v, 8);
    return v;
}

/* ---- walrec.c: framing and record bodies ------------------------------------ */

/* Starts a record of `type` at the end of w; returns its offset for
 * wal__frame_end, which fills in length and checksum. */
size_t wal__frame_begin(struct wbuf *w, enum walrec_type type);
void wal__frame_end(struct wbuf *w, size_t start);

enum wal_frame_status {
    WAL_FRAME_OK = 0,
    WAL_FRAME_END,     /* no bytes left, or only zeros (preallocated): clean end */
    WAL_FRAME_TORN,    /* fewer bytes than the header or the length says: torn tail */
    WAL_FRAME_CORRUPT, /* bad magic, absurd length or checksum mismatch */
};

struct wal_frame {
    enum walrec_type type;
    const uint8_t *body;
    uint32_t body_len;
    size_t total_len; /* header + body */
};

/* Parses the record at p (avail bytes to the end of the segment). */
enum wal_frame_status wal__frame_parse(const uint8_t *p, size_t avail, struct wal_frame *out);

/* Counts positions after `from` where a complete record with a valid
 * checksum starts (records that a corrupt record made unreadable; reported,
 * never replayed). */
uint64_t wal__frame_count_after(const uint8_t *p, size_t len, size_t from);

/* Appends the encoding of a sealed batch (layout above). */
void walrec_batch_encode(struct wbuf *w, const struct batch *b);

/* Decodes a batch encoding that must span exactly p[0..len). On success
 * *out is a new sealed batch (one reference, caller unrefs). RC_PARSE with
 * a message for anything malformed (bounds, names, types, duplicates). */
int walrec_batch_decode(const uint8_t *p, size_t len, struct batch **out,
                        struct errbuf *eb) MUST_CHECK;

/* DATA record: lsn + batch, framed. */
void walrec_data_append(struct wbuf *w, uint64_t lsn, const struct batch *b);

/* INTENT record, framed. lsns need not be sorted (a sorted copy is
 * encoded). */
void walrec_intent_append(struct wbuf *w, uint64_t slot, int64_t hour_start_us, const char *db,
                          const char *measurement, const char *key, const uint64_t *lsns, size_t n);
/* FLUSHED record, framed. */
void walrec_flushed_append(struct wbuf *w, const uint64_t *lsns, size_t n);

/* Decoded INTENT body. Strings point into the body. lsns is xmalloc'ed. */
struct walrec_intent {
    uint64_t slot;
    int64_t hour_start_us;
    char db[64 + 1];
    char measurement[128 + 1];
    char key[1024 + 1];
    uint64_t *lsns;
    size_t n;
};

int walrec_intent_decode(const uint8_t *body, size_t len, struct walrec_intent *out) MUST_CHECK;
/* *lsns xmalloc'ed (NULL if *n == 0). */
int walrec_flushed_decode(const uint8_t *body, size_t len, uint64_t **lsns, size_t *n) MUST_CHECK;

/* A new sealed batch with rows rows[0..n) of src (same columns). */
struct batch *wal__batch_copy_rows(const struct batch *src, const uint32_t *rows, size_t n);

/* ---- segment names and headers (segment.c) ---------------------------------- */

/* "arc-{YYYYMMDD}_{HHMMSS}-{seq}.wal" (seq zero-padded to 6 digits). */
void wal__segment_name(char *out, size_t cap, int64_t created_us, uint64_t seq);
/* Parses a live or recovered segment name; *recovered tells which. */
bool wal__segment_name_parse(const char *name, uint64_t *seq, bool *recovered);
void wal__segment_header(uint8_t out[WAL_SEG_HDR_BYTES], uint64_t seq, int64_t created_us);
/* True if the 32 bytes are a valid header (magic, version, checksum). */
bool wal__segment_header_check(const uint8_t *p, size_t len, uint64_t *seq, int64_t *created_us);

/* ---- runtime state (wal.c) --------------------------------------------------- */

/* One segment file. Guarded by wal->lock (except name/seq, fixed at
 * creation). */
struct wseg {
    struct wseg *next; /* list in seq order, oldest first */
    uint64_t seq;
    char name[WAL_NAME_MAX];
    int64_t created_us;
    int64_t created_mono_ms;
    uint64_t bytes;     /* size of the file */
    size_t outstanding; /* data entries logged here and not yet reported flushed */
    bool replayed;      /* from an earlier run: retired by renaming to .wal.recovered */
    bool pinned;        /* wal_replay has not finished with it */
    bool active;        /* being appended to */
};

/* One logged batch not yet reported flushed: seq (buffer's id) → lsn. */
struct went {
    struct went *hnext; /* hash chain */
    uint64_t seq;
    uint64_t lsn;
    struct wseg *seg; /* segment holding the record; set by the writer thread
                         after the write (NULL if the write failed) */
    bool no_cover;    /* a piece of a record split at replay: never named in
                         intents or flushed markers (at-least-once) */
};

enum witem_kind {
    WITEM_DATA = 1, /* a request's records (ticket) */
    WITEM_INTENT,   /* a flush intent (waited for by a flush worker) */
    WITEM_FLUSHED,  /* flushed marker + retirement (nobody waits) */
    WITEM_BARRIER,  /* completes after everything queued before it */
    WITEM_CLEANUP,  /* delete old .recovered files */
    WITEM_REPLAYED, /* pending marker of a replayed batch (never queued) */
};

/* A queue item. struct wal_ticket is this struct for WITEM_DATA. */
struct witem {
    struct witem *next;          /* queue link */
    struct witem *pnext, *pprev; /* pending list (prepared, not committed) */
    enum witem_kind kind;
    struct wbuf buf;        /* framed records to write */
    struct batch **batches; /* DATA/REPLAYED: borrowed pointers (pending lookup) */
    size_t nbatches;
    uint64_t lsn0;      /* DATA: first LSN */
    struct went **ents; /* DATA: created at commit; FLUSHED: to retire */
    size_t nents;
    struct batch *batch1; /* batches/ents of a one-batch request (most of them) */
    struct went *ent1;
    struct wseg *seg;    /* writer: segment the records went to */
    bool waited;         /* someone waits for done (else the writer frees it) */
    sem_t sem;           /* waited items: posted by the writer when done, so a
                            waiter wakes alone and without the WAL lock */
    wal_done_fn done_fn; /* asynchronous commit: called instead of posting */
    void *done_ctx;
    bool done;
    int rc;
    char err[200];
    /* WITEM_CLEANUP */
    int64_t max_age_ms;
    uint64_t deleted, freed_bytes;
    struct wal *wal;
};

struct wscan;     /* start-up scan result (segment.c) */
struct cpu_watch; /* machine CPU use (wal.c) */

struct wal {
    /* Fixed after wal_open. */
    struct wal_options o;
    char *dir;
    int dirfd;
    int lockfd; /* dir/.lock, flock'ed: one process per WAL directory */
    pthread_t writer_thread;
    pthread_t syncer_thread;
    pthread_t prep_thread;
    bool has_syncer;
    bool has_prep;
    bool writer_started;
    uint64_t prealloc_bytes; /* size of a spare segment; 0 = no preallocation */

    /* Fault hooks (tests): set at open from ARC_TEST_FAULTS, changeable with
     * wal__test_set_faults. */
    _Atomic bool fault_write_fail;
    _Atomic long fault_fsync_delay_ms;

    /*
     * lock guards everything below except the atomics. Lock order: lock is a
     * leaf — it is never held while calling another module, doing file I/O
     * or waiting for anything but its own condition variables.
     */
    pthread_mutex_t lock;
    pthread_mutex_t pool_lock; /* leaf; guards pool/npool (wal.c, "Request items are recycled") */
    struct witem *pool[WAL_ITEM_POOL];
    struct cpu_watch *cpu; /* fixed after wal_open; NULL if nothing asks (wal.c) */
    size_t npool;
    pthread_cond_t work_cv; /* writer: queue non-empty, stopping */
    pthread_cond_t done_cv; /* items done, pending commits, barriers */
    pthread_cond_t sync_cv; /* syncer: stop */

    struct witem *qhead, *qtail; /* queue for the writer, FIFO */
    size_t queued_entries;       /* data records in the queue */
    size_t reserved_entries;     /* data records prepared, not committed */
    uint64_t queued_bytes;
    struct witem *pending; /* prepared tickets and replayed batches being admitted */

    struct went **buckets; /* seq → entry */
    size_t nbuckets, nents;
    uint64_t next_lsn;

    size_t retiring;   /* segments detached for retirement, not yet renamed/unlinked */
    struct wseg *segs; /* oldest first */
    struct wseg *active;
    size_t nsegs;
    uint64_t segs_bytes;
    uint64_t next_seg_seq;

    bool stopping;      /* wal_close has begun */
    bool writer_exited; /* queue no longer drained: fail new items at once */
    bool writer_ready;  /* startup handshake */
    int writer_start_rc;
    char writer_start_err[ERRBUF_SIZE];
    bool degraded; /* sticky after a failed write/sync */
    char last_error[256];
    int64_t last_error_us;
    bool logged_intent_skip;

    /* Async mode: descriptors the syncer must sync (and close), and a dup of
     * the active segment's descriptor. */
    int *sync_close_fds;
    size_t n_sync_close_fds;
    int sync_fd;
    bool syncer_stop;

    /* Preallocation (arc-wal-prep): one zero-filled, synced spare file the
     * writer renames into place when it needs a segment, so that appends
     * never allocate blocks or grow the file and a sync writes data pages
     * only (docs/wal.md, "Preallocated segments"). */
    pthread_cond_t prep_cv; /* preparer: spare taken, stop */
    int spare_fd;           /* ready spare, or -1 */
    uint64_t spare_bytes;   /* its size */
    char spare_name[WAL_NAME_MAX];
    uint64_t spare_counter; /* spare file names are unique within a run */
    _Atomic bool prep_stop; /* also read by spare_make between chunks */
    bool prep_off;          /* preparing failed: segments are created empty from now on */

    struct wscan *scan; /* found by wal_open, consumed by wal_replay */

    /* Counters (atomics: read by stats without the lock). */
    _Atomic uint64_t st_entries, st_bytes, st_syncs, st_rotations, st_failed, st_recovered,
        st_corrupt, st_groups, st_busy;
    _Atomic uint64_t written_total;     /* bytes written, for the syncer */
    _Atomic uint64_t st_sync_ns;        /* time spent in sync calls */
    _Atomic int64_t disk_free_permille; /* -1 unknown */
};

/* Entry map (wal.c). Caller holds wal->lock. */
void wal__map_insert(struct wal *w, struct went *e);
struct went *wal__map_find(struct wal *w, uint64_t seq);
void wal__map_remove(struct wal *w, struct went *e);

/* Pending list (wal.c). Caller holds wal->lock. */
void wal__pending_add(struct wal *w, struct witem *it);
void wal__pending_remove(struct wal *w, struct witem *it);

/* A new queue item; waited items get their semaphore. Free with
 * wal__item_free. */
struct witem *wal__item_new(struct wal *w, enum witem_kind kind, bool waited);

/* Enqueues it for the writer and, if it->waited, waits for it to complete;
 * returns it->rc. Caller does not hold the lock. If the writer has exited
 * the item is completed at once with RC_SHUTDOWN. Items not waited for are
 * owned (and freed) by the writer from here on. */
int wal__enqueue(struct wal *w, struct witem *it);
void wal__item_free(struct witem *it);

/* Counts one record re-admitted by wal_replay (stats and metric). */
void wal__count_recovered(struct wal *w);

/* Test hooks: override the fault flags of an open WAL. */
void wal__test_set_faults(struct wal *w, bool write_fail, long fsync_delay_ms);

/* ---- start-up scan (segment.c) -------------------------------------------------- */

struct wscan_rec {
    size_t off; /* of the record header in the file */
    size_t total_len;
    uint64_t lsn;
};

struct wscan_seg {
    struct wseg *seg; /* owned by wal->segs */
    char path[4096];
    uint64_t size; /* of the file */
    uint64_t used; /* up to the end of the last readable record (the rest is
                      preallocated zeros, a torn tail or corrupt) */
    bool header_ok;
    struct wscan_rec *recs;
    size_t nrecs, caprecs;
    uint64_t corrupt; /* torn/corrupt records + unreadable valid-looking ones after */
};

struct wscan_intent {
    struct walrec_intent in;
    size_t order; /* file order (later replaces earlier of the same slot) */
};

struct wscan {
    struct wscan_seg *segs;
    size_t nsegs;
    struct wscan_intent *intents; /* latest per slot */
    size_t nintents, capintents;
    uint64_t *flushed; /* sorted, unique after scan */
    size_t nflushed, capflushed;
    uint64_t max_lsn;
    uint64_t max_seg_seq; /* over live and recovered names */
    uint64_t corrupt_records;
    uint64_t corrupt_segments;
    uint64_t records;
};

/* Lists and reads every segment in dir (read-only). Fills a new scan; also
 * creates the struct wseg of each live segment (pinned, replayed) in seq
 * order. RC_IO if the directory cannot be read. */
int wal__scan_dir(int dirfd, const char *dir, struct wscan **out, struct wseg **segs,
                  struct errbuf *eb) MUST_CHECK;
void wal__scan_free(struct wscan **sp);
bool wal__scan_is_flushed(const struct wscan *s, uint64_t lsn);

/* Tests: make every CPU check answer saturated (1) or idle (0); -1 measures
 * again. Process-wide. */
void wal__test_force_cpu_saturated(int v);

#endif
