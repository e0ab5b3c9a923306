/*
 * wal/segment.c — segment file names and headers, and the start-up scan
 * that reads every existing segment before anything new is written.
 *
 * The scan (wal__scan_dir, called by wal_open on the main thread) only
 * reads: it maps each `arc-*.wal` file, checks the header, walks the records
 * checking their checksums, and remembers for wal_replay
 *   - where each DATA record is and its LSN,
 *   - the latest INTENT of every slot (which file holds which rows),
 *   - every LSN named by a FLUSHED marker,
 *   - the highest LSN and segment number seen, so that new ones never
 *     collide with old ones.
 * A torn or corrupt record ends the walk of its segment: the length of a
 * record that failed its checksum cannot be trusted, and resynchronising on
 * the next magic could replay bytes of a client's string value as if they
 * were a record. Valid-looking records after that point are counted (and
 * logged) as lost, never replayed.
 */
#include "wal/wal_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"
#include "util/timeutil.h"

static const uint8_t seg_magic[4] = {'A', 'R', 'C', 'W'};

/* ---- names and headers --------------------------------------------------------- */

void wal__segment_name(char *out, size_t cap, int64_t created_us, uint64_t seq)
{
    struct civil_time ct;
    time_to_civil(created_us, &ct);
    snprintf(out, cap, "arc-%04d%02d%02d_%02d%02d%02d-%06" PRIu64 ".wal", ct.year, ct.month, ct.day,
             ct.hour, ct.minute, ct.second, seq);
}

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return n > 0;
}

bool wal__segment_name_parse(const char *name, uint64_t *seq, bool *recovered)
{
    /* arc-YYYYMMDD_HHMMSS-SEQ.wal[.recovered] */
    size_t n = strlen(name);
    bool rec = false;
    if (n > 14 && !strcmp(name + n - 14, ".wal.recovered")) {
        rec = true;
        n -= 10;
    }
    if (n < 4 + 15 + 1 + 1 + 4 || strncmp(name + n - 4, ".wal", 4) || strncmp(name, "arc-", 4))
        return false;
    if (!all_digits(name + 4, 8) || name[12] != '_' || !all_digits(name + 13, 6) || name[19] != '-')
        return false;
    const char *s = name + 20;
    size_t sl = n - 4 - 20;
    if (!all_digits(s, sl) || sl > 19)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < sl; i++)
        v = v * 10 + (uint64_t)(s[i] - '0');
    *seq = v;
    *recovered = rec;
    return true;
}

void wal__segment_header(uint8_t out[WAL_SEG_HDR_BYTES], uint64_t seq, int64_t created_us)
{
    memset(out, 0, WAL_SEG_HDR_BYTES);
    memcpy(out, seg_magic, 4);
    uint16_t ver = WAL_FORMAT_VERSION, hl = WAL_SEG_HDR_BYTES;
    memcpy(out + 4, &ver, 2);
    memcpy(out + 6, &hl, 2);
    memcpy(out + 8, &seq, 8);
    memcpy(out + 16, &created_us, 8);
    uint32_t crc = wal__crc32c(0, out, 28);
    memcpy(out + 28, &crc, 4);
}

bool wal__segment_header_check(const uint8_t *p, size_t len, uint64_t *seq, int64_t *created_us)
{
    if (len < WAL_SEG_HDR_BYTES || memcmp(p, seg_magic, 4) != 0)
        return false;
    uint16_t ver, hl;
    uint32_t crc;
    memcpy(&ver, p + 4, 2);
    memcpy(&hl, p + 6, 2);
    memcpy(&crc, p + 28, 4);
    if (ver < WAL_FORMAT_VERSION_MIN || ver > WAL_FORMAT_VERSION || hl != WAL_SEG_HDR_BYTES ||
        wal__crc32c(0, p, 28) != crc)
        return false;
    if (seq)
        memcpy(seq, p + 8, 8);
    if (created_us)
        memcpy(created_us, p + 16, 8);
    return true;
}

/* ---- scan ------------------------------------------------------------------------ */

struct name_ent {
    char name[WAL_NAME_MAX];
    uint64_t seq;
};

static int cmp_name_ent(const void *a, const void *b)
{
    const struct name_ent *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void add_flushed(struct wscan *s, const uint64_t *lsns, size_t n)
{
    if (s->nflushed + n > s->capflushed) {
        size_t cap = s->capflushed ? s->capflushed : 256;
        while (cap < s->nflushed + n)
            cap *= 2;
        s->flushed = xrealloc(s->flushed, cap * sizeof(*s->flushed));
        s->capflushed = cap;
    }
    memcpy(s->flushed + s->nflushed, lsns, n * sizeof(*lsns));
    s->nflushed += n;
}

static void add_intent(struct wscan *s, struct walrec_intent *in, size_t order)
{
    for (size_t i = 0; i < s->nintents; i++) {
        if (s->intents[i].in.slot == in->slot) {
            /* A later intent of the same slot (name-collision retry) wins. */
            xfree(s->intents[i].in.lsns);
            s->intents[i].in = *in;
            s->intents[i].order = order;
            return;
        }
    }
    if (s->nintents == s->capintents) {
        s->capintents = s->capintents ? s->capintents * 2 : 16;
        s->intents = xrealloc(s->intents, s->capintents * sizeof(*s->intents));
    }
    s->intents[s->nintents].in = *in;
    s->intents[s->nintents].order = order;
    s->nintents++;
}

static void add_rec(struct wscan_seg *ss, size_t off, size_t total, uint64_t lsn)
{
    if (ss->nrecs == ss->caprecs) {
        ss->caprecs = ss->caprecs ? ss->caprecs * 2 : 64;
        ss->recs = xrealloc(ss->recs, ss->caprecs * sizeof(*ss->recs));
    }
    ss->recs[ss->nrecs++] = (struct wscan_rec){.off = off, .total_len = total, .lsn = lsn};
}

/* Walks one mapped segment. */
static void scan_records(struct wscan *s, struct wscan_seg *ss, const uint8_t *p, size_t len,
                         size_t *order)
{
    size_t off = WAL_SEG_HDR_BYTES;
    for (;;) {
        ss->used = off;
        struct wal_frame f;
        enum wal_frame_status st = wal__frame_parse(p + off, len - off, &f);
        if (st == WAL_FRAME_END)
            return;
        if (st != WAL_FRAME_OK) {
            uint64_t lost = wal__frame_count_after(p, len, off);
            ss->corrupt += 1 + lost;
            log_error("wal",
                      "%s record ends replay of segment path=%s offset=%zu bytes_left=%zu "
                      "valid_looking_records_after=%" PRIu64,
                      st == WAL_FRAME_TORN ? "torn" : "corrupt", ss->path, off, len - off, lost);
            return;
        }
        (*order)++;
        switch (f.type) {
        case WALREC_DATA: {
            if (f.body_len < 8) {
                ss->corrupt++;
                log_error("wal", "short data record path=%s offset=%zu", ss->path, off);
                break;
            }
            uint64_t lsn;
            memcpy(&lsn, f.body, 8);
            add_rec(ss, off, f.total_len, lsn);
            s->records++;
            if (lsn > s->max_lsn)
                s->max_lsn = lsn;
            break;
        }
        case WALREC_INTENT: {
            struct walrec_intent in;
            if (walrec_intent_decode(f.body, f.body_len, &in) != RC_OK) {
                ss->corrupt++;
                log_error("wal", "malformed intent record path=%s offset=%zu", ss->path, off);
                break;
            }
            if (in.slot > s->max_lsn)
                s->max_lsn = in.slot;
            for (size_t i = 0; i < in.n; i++)
                if (in.lsns[i] > s->max_lsn)
                    s->max_lsn = in.lsns[i];
            add_intent(s, &in, *order);
            break;
        }
        case WALREC_FLUSHED: {
            uint64_t *lsns = NULL;
            size_t n = 0;
            if (walrec_flushed_decode(f.body, f.body_len, &lsns, &n) != RC_OK) {
                ss->corrupt++;
                log_error("wal", "malformed flushed record path=%s offset=%zu", ss->path, off);
                break;
            }
            add_flushed(s, lsns, n);
            for (size_t i = 0; i < n; i++)
                if (lsns[i] > s->max_lsn)
                    s->max_lsn = lsns[i];
            xfree(lsns);
            break;
        }
        default:
            /* A type from a newer version with a valid checksum: skip it. */
            log_warn("wal", "unknown record type skipped path=%s offset=%zu type=%d", ss->path, off,
                     (int)f.type);
            break;
        }
        off += f.total_len;
    }
}

static int scan_one(struct wscan *s, struct wscan_seg *ss, int dirfd, const char *name,
                    size_t *order)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        log_error("wal", "cannot open segment path=%s err=%s", ss->path, strerror(errno));
        return RC_IO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        log_error("wal", "cannot stat segment path=%s err=%s", ss->path, strerror(errno));
        close(fd);
        return RC_IO;
    }
    ss->size = (uint64_t)st.st_size;
    ss->used = ss->size;
    if (st.st_size < WAL_SEG_HDR_BYTES) {
        /* Created but the header never reached the disk. Nothing to replay. */
        close(fd);
        ss->header_ok = false;
        if (st.st_size > 0) {
            s->corrupt_segments++;
            log_error("wal", "torn segment header path=%s size=%lld", ss->path,
                      (long long)st.st_size);
        }
        return RC_OK;
    }
    const uint8_t *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        log_error("wal", "cannot map segment path=%s err=%s", ss->path, strerror(errno));
        return RC_IO;
    }
    ss->header_ok = wal__segment_header_check(p, (size_t)st.st_size, NULL, NULL);
    static const uint8_t zero_hdr[WAL_SEG_HDR_BYTES];
    if (!ss->header_ok && memcmp(p, zero_hdr, sizeof(zero_hdr)) == 0) {
        /* A preallocated file renamed into place whose header never reached
         * the disk (crash during creation): no record was written to it. */
        log_info("wal", "segment without header (never written), skipped path=%s", ss->path);
        ss->used = 0;
    } else if (!ss->header_ok) {
        s->corrupt_segments++;
        log_error("wal", "corrupt segment header, segment skipped path=%s", ss->path);
    } else {
        scan_records(s, ss, p, (size_t)st.st_size, order);
    }
    munmap((void *)p, (size_t)st.st_size);
    s->corrupt_records += ss->corrupt;
    return RC_OK;
}

int wal__scan_dir(int dirfd, const char *dir, struct wscan **out, struct wseg **segs,
                  struct errbuf *eb)
{
    int dfd = dup(dirfd);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        if (dfd >= 0)
            close(dfd);
        return errbuf_set(eb, RC_IO, "wal: cannot read directory %s: %s", dir, strerror(errno));
    }
    rewinddir(d);
    struct wscan *s = xcalloc(1, sizeof(*s));
    struct name_ent *names = NULL;
    size_t nnames = 0, capnames = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        uint64_t seq;
        bool recovered;
        if (!wal__segment_name_parse(de->d_name, &seq, &recovered))
            continue;
        if (seq > s->max_seg_seq)
            s->max_seg_seq = seq;
        if (recovered || strlen(de->d_name) >= WAL_NAME_MAX)
            continue;
        if (nnames == capnames) {
            capnames = capnames ? capnames * 2 : 16;
            names = xrealloc(names, capnames * sizeof(*names));
        }
        snprintf(names[nnames].name, sizeof(names[nnames].name), "%.*s", WAL_NAME_MAX - 1,
                 de->d_name);
        names[nnames].seq = seq;
        nnames++;
    }
    closedir(d);
    if (nnames)
        qsort(names, nnames, sizeof(*names), cmp_name_ent);

    int rc = RC_OK;
    s->segs = xcalloc(nnames ? nnames : 1, sizeof(*s->segs));
    struct wseg *head = NULL, **tail = &head;
    size_t order = 0;
    for (size_t i = 0; i < nnames; i++) {
        struct wscan_seg *ss = &s->segs[s->nsegs];
        snprintf(ss->path, sizeof(ss->path), "%s/%s", dir, names[i].name);
        rc = scan_one(s, ss, dirfd, names[i].name, &order);
        if (rc != RC_OK) {
            errbuf_set(eb, rc, "wal: cannot read segment %s", ss->path);
            xfree(ss->recs);
            break;
        }
        struct wseg *g = xcalloc(1, sizeof(*g));
        g->seq = names[i].seq;
        snprintf(g->name, sizeof(g->name), "%s", names[i].name);
        g->bytes = ss->used;
        g->replayed = true;
        g->pinned = true;
        ss->seg = g;
        *tail = g;
        tail = &g->next;
        s->nsegs++;
    }
    xfree(names);
    if (rc != RC_OK) {
        while (head) {
            struct wseg *n = head->next;
            xfree(head);
            head = n;
        }
        wal__scan_free(&s);
        return rc;
    }
    if (s->nflushed)
        qsort(s->flushed, s->nflushed, sizeof(*s->flushed), cmp_u64);
    *segs = head;
    *out = s;
    return RC_OK;
}

void wal__scan_free(struct wscan **sp)
{
    if (!sp || !*sp)
        return;
    struct wscan *s = *sp;
    *sp = NULL;
    for (size_t i = 0; i < s->nsegs; i++)
        xfree(s->segs[i].recs);
    xfree(s->segs);
    for (size_t i = 0; i < s->nintents; i++)
        xfree(s->intents[i].in.lsns);
    xfree(s->intents);
    xfree(s->flushed);
    xfree(s);
}

bool wal__scan_is_flushed(const struct wscan *s, uint64_t lsn)
{
    size_t lo = 0, hi = s->nflushed;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->flushed[mid] < lsn)
            lo = mid + 1;
        else if (s->flushed[mid] > lsn)
            hi = mid;
        else
            return true;
    }
    return false;
}
