/*
 * wal/replay.c — start-up replay (wal_replay, see wal.h and docs/wal.md).
 *
 * Runs on the main thread after wal_open and before the server accepts
 * writes; the flush workers are running, the WAL writer too (replayed
 * batches get flush intents and flushed markers like new ones).
 *
 * What is skipped, so that a crash during a flush never duplicates rows:
 *   - a record named by a FLUSHED marker: all its rows are in storage;
 *   - the rows of a record in UTC hour H when an INTENT (slot, H, key)
 *     names it and `key` exists in storage: a flush put that file, which
 *     holds every row of the record in hour H (one file per hour).
 * Everything else is admitted again with its original LSN, so intents and
 * markers written while flushing the replayed rows describe the old
 * records: a crash during the replay's own flush is handled the same way.
 *
 * Replayed segments stay pinned (never retired) until their last record has
 * been admitted; once their rows are reported flushed they are renamed
 * `.wal.recovered` by the writer thread.
 */
#include "wal/wal_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ingest/batch.h"
#include "util/log.h"
#include "util/timeutil.h"

#define DEFAULT_BUSY_TIMEOUT_MS 60000
#define BUSY_PAUSE_MS 200
#define RETIRE_WAIT_MS 5000 /* for the flushed reports of the final flush to arrive */

/* (lsn, hour) pairs whose rows are in an existing file, sorted. */
struct cover {
    uint64_t lsn;
    int64_t hour_us;
};

struct cover_set {
    struct cover *v;
    size_t n, cap;
};

static int cmp_cover(const void *a, const void *b)
{
    const struct cover *x = a, *y = b;
    if (x->lsn != y->lsn)
        return x->lsn < y->lsn ? -1 : 1;
    return x->hour_us < y->hour_us ? -1 : x->hour_us > y->hour_us;
}

static void cover_build(struct cover_set *cs, const struct wscan *s,
                        const struct wal_replay_ops *ops)
{
    for (size_t i = 0; i < s->nintents; i++) {
        const struct walrec_intent *in = &s->intents[i].in;
        if (!ops->file_exists ||
            !ops->file_exists(ops->ctx, in->db, in->measurement, in->hour_start_us, in->key))
            continue;
        if (cs->n + in->n > cs->cap) {
            size_t cap = cs->cap ? cs->cap : 64;
            while (cap < cs->n + in->n)
                cap *= 2;
            cs->v = xrealloc(cs->v, cap * sizeof(*cs->v));
            cs->cap = cap;
        }
        for (size_t k = 0; k < in->n; k++)
            cs->v[cs->n++] = (struct cover){.lsn = in->lsns[k], .hour_us = in->hour_start_us};
    }
    if (cs->n)
        qsort(cs->v, cs->n, sizeof(*cs->v), cmp_cover);
}

/* Hours covered for lsn: *first index and count in cs->v. */
static size_t cover_find(const struct cover_set *cs, uint64_t lsn, size_t *first)
{
    size_t lo = 0, hi = cs->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cs->v[mid].lsn < lsn)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t k = lo;
    while (k < cs->n && cs->v[k].lsn == lsn)
        k++;
    *first = lo;
    return k - lo;
}

static bool hour_covered(const struct cover_set *cs, size_t first, size_t n, int64_t hour)
{
    for (size_t i = first; i < first + n; i++)
        if (cs->v[i].hour_us == hour)
            return true;
    return false;
}

/* Admits b (one reference borrowed) for record lsn of segment seg; splits it
 * when it can never fit the buffer. */
static int admit_one(struct wal *w, const struct wal_replay_ops *ops, struct batch *b, uint64_t lsn,
                     struct wseg *seg, bool no_cover, struct wal_replay_stats *st,
                     struct errbuf *eb)
{
    struct batch *arr[1] = {b};
    struct witem pend = {.kind = WITEM_REPLAYED, .batches = arr, .nbatches = 1};
    pthread_mutex_lock(&w->lock);
    wal__pending_add(w, &pend);
    pthread_mutex_unlock(&w->lock);

    int64_t timeout = ops->busy_timeout_ms > 0 ? ops->busy_timeout_ms : DEFAULT_BUSY_TIMEOUT_MS;
    int64_t deadline = time_mono_ms() + timeout;
    struct errbuf aeb;
    int rc;
    for (;;) {
        errbuf_clear(&aeb);
        rc = ops->admit(ops->ctx, arr, 1, &aeb);
        if (rc != RC_BUSY || time_mono_ms() >= deadline)
            break;
        /* The buffer is full: write it out, then try again. */
        struct errbuf feb;
        errbuf_clear(&feb);
        if (!ops->flush || ops->flush(ops->ctx, &feb) != RC_OK) {
            log_warn("wal", "replay: buffer full and flush failed, retrying err=%s",
                     feb.msg[0] ? feb.msg : "no flush callback");
            time_sleep_ms(BUSY_PAUSE_MS);
        }
    }

    pthread_mutex_lock(&w->lock);
    wal__pending_remove(w, &pend);
    if (rc == RC_OK && b->seq) {
        struct went *e = xcalloc(1, sizeof(*e));
        e->seq = b->seq;
        e->lsn = lsn;
        e->seg = seg;
        e->no_cover = no_cover;
        wal__map_insert(w, e);
        seg->outstanding++;
    }
    pthread_cond_broadcast(&w->done_cv);
    pthread_mutex_unlock(&w->lock);

    if (rc == RC_OK) {
        st->replayed_records++;
        st->replayed_rows += b->nrows;
        wal__count_recovered(w);
        return RC_OK;
    }
    if (rc == RC_LIMIT && b->nrows > 1) {
        /* Larger than the buffer's hard limit (the limit was lowered since
         * it was logged): admit it in halves. The pieces are never named in
         * intents or markers, so a crash before they are all flushed replays
         * the whole record again (at-least-once for this rare case). */
        log_warn("wal",
                 "replay: record larger than the buffer limit, splitting lsn=%" PRIu64 " rows=%zu",
                 lsn, b->nrows);
        size_t half = b->nrows / 2;
        uint32_t *idx = xmalloc(b->nrows * sizeof(*idx));
        for (size_t i = 0; i < b->nrows; i++)
            idx[i] = (uint32_t)i;
        rc = RC_OK;
        for (size_t start = 0; start < b->nrows && rc == RC_OK; start += half) {
            size_t cnt = b->nrows - start < half ? b->nrows - start : half;
            struct batch *piece = wal__batch_copy_rows(b, idx + start, cnt);
            rc = admit_one(w, ops, piece, lsn, seg, true, st, eb);
            batch_unref(&piece);
        }
        xfree(idx);
        return rc;
    }
    return errbuf_set(eb, rc, "wal replay: cannot admit record lsn=%" PRIu64 " of %s/%s: %s", lsn,
                      b->db, b->measurement, aeb.msg[0] ? aeb.msg : rc_name(rc));
}

/* Replays one segment's data records. */
static int replay_segment(struct wal *w, const struct wal_replay_ops *ops, const struct wscan *s,
                          const struct wscan_seg *ss, const struct cover_set *cs,
                          struct wal_replay_stats *st, struct errbuf *eb)
{
    if (ss->nrecs == 0)
        return RC_OK;
    int fd = open(ss->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errbuf_set(eb, RC_IO, "wal replay: cannot open %s: %s", ss->path, strerror(errno));
    const uint8_t *p = mmap(NULL, (size_t)ss->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return errbuf_set(eb, RC_IO, "wal replay: cannot map %s: %s", ss->path, strerror(errno));
    int rc = RC_OK;
    uint32_t *keep = NULL;
    size_t keep_cap = 0;
    for (size_t i = 0; i < ss->nrecs && rc == RC_OK; i++) {
        const struct wscan_rec *r = &ss->recs[i];
        if (wal__scan_is_flushed(s, r->lsn)) {
            st->skipped_records++;
            continue;
        }
        struct wal_frame f;
        struct batch *b = NULL;
        struct errbuf deb;
        errbuf_clear(&deb);
        if (r->off + r->total_len > ss->size ||
            wal__frame_parse(p + r->off, ss->size - r->off, &f) != WAL_FRAME_OK ||
            walrec_batch_decode(f.body + 8, f.body_len - 8, &b, &deb) != RC_OK) {
            st->corrupt_records++;
            log_error("wal", "replay: undecodable record skipped path=%s offset=%zu err=%s",
                      ss->path, r->off, deb.msg);
            continue;
        }
        size_t first, nh = cover_find(cs, r->lsn, &first);
        if (nh) {
            if (b->nrows > keep_cap) {
                keep_cap = b->nrows;
                keep = xrealloc(keep, keep_cap * sizeof(*keep));
            }
            size_t nk = 0;
            for (size_t row = 0; row < b->nrows; row++)
                if (!hour_covered(cs, first, nh, time_floor_hour(b->time_us[row])))
                    keep[nk++] = (uint32_t)row;
            st->skipped_rows += b->nrows - nk;
            if (nk == 0) {
                st->skipped_records++;
                batch_unref(&b);
                continue;
            }
            if (nk < b->nrows) {
                struct batch *part = wal__batch_copy_rows(b, keep, nk);
                batch_unref(&b);
                b = part;
            }
        }
        rc = admit_one(w, ops, b, r->lsn, ss->seg, false, st, eb);
        batch_unref(&b);
    }
    xfree(keep);
    munmap((void *)p, (size_t)ss->size);
    return rc;
}

int wal_replay(struct wal *w, const struct wal_replay_ops *ops, struct wal_replay_stats *stats,
               struct errbuf *eb)
{
    struct wal_replay_stats st;
    memset(&st, 0, sizeof(st));
    pthread_mutex_lock(&w->lock);
    struct wscan *s = w->scan;
    w->scan = NULL;
    pthread_mutex_unlock(&w->lock);
    if (!s) {
        if (stats)
            *stats = st;
        return RC_OK;
    }
    if (!ops || !ops->admit) {
        /* Nothing can be replayed: keep the segments (still pinned). */
        wal__scan_free(&s);
        return errbuf_set(eb, RC_INVALID, "wal_replay: ops->admit is required");
    }
    int64_t t0 = time_mono_ms();
    st.segments = s->nsegs;
    st.records = s->records;
    st.corrupt_records = s->corrupt_records;
    st.corrupt_segments = s->corrupt_segments;
    struct cover_set cs = {0};
    cover_build(&cs, s, ops);

    int rc = RC_OK;
    for (size_t i = 0; i < s->nsegs && rc == RC_OK; i++) {
        rc = replay_segment(w, ops, s, &s->segs[i], &cs, &st, eb);
        if (rc != RC_OK)
            break; /* this and later segments stay pinned: replayed next start */
        pthread_mutex_lock(&w->lock);
        s->segs[i].seg->pinned = false;
        pthread_mutex_unlock(&w->lock);
    }

    if (rc == RC_OK) {
        if (st.replayed_records && ops->flush) {
            struct errbuf feb;
            errbuf_clear(&feb);
            st.flush_rc = ops->flush(ops->ctx, &feb);
            if (st.flush_rc != RC_OK)
                log_warn("wal", "replay: flush failed, rows stay buffered and logged err=%s",
                         feb.msg);
        }
        /* Let the writer retire what is done (a barrier orders it after every
         * flushed report queued so far); the last reports of the final flush
         * may still be on their way, so wait a little for them too. */
        struct witem *bar = wal__item_new(w, WITEM_BARRIER, true);
        (void)wal__enqueue(w, bar);
        wal__item_free(bar);
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += RETIRE_WAIT_MS / 1000;
        pthread_mutex_lock(&w->lock);
        for (;;) {
            size_t left = 0;
            for (size_t i = 0; i < s->nsegs; i++)
                for (struct wseg *g = w->segs; g; g = g->next)
                    if (g == s->segs[i].seg)
                        left++;
            if ((left == 0 && w->retiring == 0) || st.flush_rc != RC_OK)
                break;
            if (pthread_cond_timedwait(&w->done_cv, &w->lock, &until) == ETIMEDOUT)
                break;
        }
        for (size_t i = 0; i < s->nsegs; i++) {
            bool found = false;
            for (struct wseg *g = w->segs; g && !found; g = g->next)
                found = g == s->segs[i].seg;
            st.segments_recovered += !found;
        }
        pthread_mutex_unlock(&w->lock);
    }
    log_info("wal",
             "replay %s segments=%" PRIu64 " records=%" PRIu64 " replayed=%" PRIu64 " rows=%" PRIu64
             " skipped_records=%" PRIu64 " skipped_rows=%" PRIu64 " corrupt_records=%" PRIu64
             " corrupt_segments=%" PRIu64 " recovered=%" PRIu64 " took_ms=%lld",
             rc == RC_OK ? "done" : "stopped", st.segments, st.records, st.replayed_records,
             st.replayed_rows, st.skipped_records, st.skipped_rows, st.corrupt_records,
             st.corrupt_segments, st.segments_recovered, (long long)(time_mono_ms() - t0));
    xfree(cs.v);
    wal__scan_free(&s);
    if (stats)
        *stats = st;
    return rc;
}
