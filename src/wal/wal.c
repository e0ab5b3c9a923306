/*
 * wal/wal.c — the write-ahead log runtime: tickets, the writer thread with
 * group commit, the async sync thread, retirement, stats (see wal.h).
 *
 * Owns: the WAL directory's files, the active segment's descriptor, the
 * queue of records waiting to be written, the map batch seq → log record
 * (LSN) of every logged batch not yet flushed, and the list of live
 * segments.
 *
 * Threads:
 *   HTTP threads     wal_prepare / wal_commit / wal_abort (serialise, enqueue,
 *                    wait on the ticket's semaphore — never any file I/O)
 *   flush workers    wal_put_intent (waits like a request), wal_batches_flushed
 *   arc-wal          the writer: the only thread that writes, syncs (except
 *                    async mode), renames or unlinks WAL files (SPEC R6.1)
 *   arc-wal-sync     async mode only: fdatasync every async_sync_interval_ms
 *   main             wal_open (read-only scan), wal_replay, wal_close
 *   HTTP (endpoints) wal_get_stats, wal_files_list (readdir/stat only),
 *                    wal_cleanup_recovered (done by arc-wal, waited for)
 *
 * DESIGN
 *
 * Group commit. Request threads serialise their records and append them to
 * one FIFO queue; the writer takes the whole queue at once, writes it with
 * one writev() to the active segment, calls fsync()/fdatasync() once (sync
 * modes) and then marks every item of the group done and broadcasts. Items
 * queued while a sync runs form the next group (R6.2), so the number of
 * syncs stays far below the number of requests under load.
 *
 * Segment lifecycle (docs/wal.md has the diagram):
 *
 *   (create) seg_create ──► active ──rotate (size/age)──► sealed
 *        sealed, outstanding == 0, all older gone ──retire──► unlink
 *   (found at start) wal__scan_dir ──► pinned ──wal_replay──► sealed (replayed)
 *        replayed, outstanding == 0, all older gone ──retire──► rename .wal.recovered
 *   .wal.recovered ──cleanup (age)──► unlink
 *
 * Retirement is in segment order: markers and intents in a later segment
 * describe records of earlier ones, so a segment goes only after every older
 * one has gone.
 *
 * Order with the buffer (wal.h): prepare → colbuf_admit → commit. Between
 * admit and commit a batch is already visible to flush workers but has no
 * map entry yet; wal_put_intent / wal_batches_flushed therefore wait while
 * a batch they are given is still in the pending list (the commit comes
 * microseconds later on the request thread, which never waits for a flush
 * in between), so an entry always exists before anything refers to it, and
 * a record always precedes its intents and markers in the log.
 *
 * Failure is sticky (STYLE §4): after a failed write or sync every item in
 * the group gets RC_IO, the WAL is degraded and refuses new writes until the
 * process reopens it.
 */
#include "wal/wal_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "ingest/batch.h"
#include "metrics/metrics.h"
#include "util/procstat.h"
#include "util/condvar.h"
#include "util/config.h"
#include "util/faults.h"
#include "util/log.h"
#include "util/timeutil.h"

#define DEFAULT_SEGMENT_BYTES (UINT64_C(100) << 20)
#define DEFAULT_SEGMENT_AGE_MS (INT64_C(3600) * 1000)
#define DEFAULT_QUEUE_SIZE 10000
#define DEFAULT_ASYNC_INTERVAL_MS 1000
#define HOUSEKEEPING_MS 1000      /* age rotation check period */
#define DISK_CHECK_MS 5000        /* statvfs period */
#define AUTO_CLEANUP_MS 60000     /* .recovered retention check period */
#define PENDING_WAIT_MAX_MS 10000 /* a prepared batch must be committed within this */
#define MAX_IOV 512
#define BUF_POOL_MAX_BYTES ((size_t)512 << 10)   /* pooled items keep buffers up to this */
#define PREALLOC_MAX_BYTES (UINT64_C(1) << 30)   /* larger segments grow past this by appending */
#define ZERO_CHUNK (1 << 20)                     /* zero-fill write size */
#define FIRST_PREALLOC_BYTES (UINT64_C(8) << 20) /* the segment made while opening */
#define SPARE_PREFIX "arc-spare-" /* + counter + SPARE_SUFFIX: never a segment name */
#define SPARE_SUFFIX ".tmp"

/* Machine CPU use, sampled from /proc/stat (see cpu_saturated). One per
 * WAL, shared by the writer (group-commit wait) and the preparer (zero-fill
 * pause): one read of /proc/stat per window whoever asks. */
struct cpu_watch {
    pthread_mutex_t lock; /* leaf; guards the sample (a thread finding it taken
                             uses the last answer) */
    int fd;               /* /proc/stat, -1 if unavailable */
    int64_t next_check_ms;
    uint64_t busy, total;   /* last sample, jiffies */
    _Atomic bool saturated; /* busy share of the last window >= CPU_SATURATED_PCT */
    bool read_error_logged;
};

/* Writer-thread-only state (never touched by other threads). */
struct writer_state {
    int fd;              /* active segment */
    uint64_t bytes;      /* written to the active segment, header included */
    uint64_t file_bytes; /* its size on disk when preallocated (zeros after `bytes`), else 0 */
    bool unsynced;       /* written since the last sync (sync modes) */
};

static struct {
    struct metric *entries, *bytes, *syncs, *failed, *queue_depth, *recovery_records, *sync_seconds,
        *groups, *group_entries, *segments, *rotations, *busy, *corrupt, *group_waits;
} m;
static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;

static void init_metrics(void)
{
    m.entries = metrics_counter("arc_wal_entries_total", "WAL data records written", NULL);
    m.group_waits =
        metrics_counter("arc_wal_group_waits_total",
                        "Groups delayed by wal.group_commit_delay_us (CPU saturated)", NULL);
    m.bytes = metrics_counter("arc_wal_bytes_total", "Bytes written to WAL segments", NULL);
    m.syncs = metrics_counter("arc_wal_syncs_total", "fsync/fdatasync calls on WAL segments", NULL);
    m.failed = metrics_counter("arc_wal_failed_writes_total",
                               "Failed WAL writes or syncs (each degrades the WAL)", NULL);
    m.queue_depth = metrics_gauge("arc_wal_queue_depth", "WAL records waiting to be written", NULL);
    m.recovery_records = metrics_counter("arc_wal_recovery_records_total",
                                         "WAL records re-admitted at start-up", NULL);
    m.sync_seconds =
        metrics_histogram("arc_wal_sync_duration_seconds", "Duration of WAL syncs", NULL);
    m.groups = metrics_counter("arc_wal_group_commits_total",
                               "WAL group commits (one write, one sync each)", NULL);
    m.group_entries = metrics_counter("arc_wal_group_commit_entries_total",
                                      "Data records covered by group commits (divide by "
                                      "arc_wal_group_commits_total for the mean group size)",
                                      NULL);
    m.segments = metrics_gauge("arc_wal_segments", "WAL segments on disk (not recovered)", NULL);
    m.rotations = metrics_counter("arc_wal_rotations_total", "WAL segment rotations", NULL);
    m.busy = metrics_counter("arc_wal_backpressure_rejections_total",
                             "Writes refused because the WAL queue or size cap was full", NULL);
    m.corrupt = metrics_counter("arc_wal_recovery_corrupt_records_total",
                                "Torn or corrupt WAL records found at start-up", NULL);
}

/* ---- small helpers ---------------------------------------------------------------- */

bool wal_sync_mode_parse(const char *s, enum wal_sync_mode *out)
{
    if (!s)
        return false;
    if (!strcmp(s, "fsync"))
        *out = WAL_SYNC_FSYNC;
    else if (!strcmp(s, "fdatasync"))
        *out = WAL_SYNC_FDATASYNC;
    else if (!strcmp(s, "async"))
        *out = WAL_SYNC_ASYNC;
    else
        return false;
    return true;
}

const char *wal_sync_mode_name(enum wal_sync_mode mode)
{
    switch (mode) {
    case WAL_SYNC_FSYNC: return "fsync";
    case WAL_SYNC_FDATASYNC: return "fdatasync";
    case WAL_SYNC_ASYNC: return "async";
    }
    return "unknown";
}

void wal_options_from_config(const struct config_wal *c, struct wal_options *out)
{
    memset(out, 0, sizeof(*out));
    out->dir = c->dir;
    if (!wal_sync_mode_parse(c->sync_mode, &out->sync_mode))
        out->sync_mode = WAL_SYNC_FDATASYNC;
    out->max_segment_bytes = (uint64_t)c->max_size_mb << 20;
    out->max_segment_age_ms = c->max_age_seconds * 1000;
    out->queue_size = (size_t)c->queue_size;
    out->async_sync_interval_ms = c->async_sync_interval_ms;
    out->max_total_bytes = (uint64_t)c->max_total_size_mb << 20;
    out->recovered_retention_ms = c->recovered_retention_hours * 3600 * 1000;
    out->no_preallocate = !c->preallocate;
    out->group_delay_us = c->group_commit_delay_us;
}

/*
 * Request items are recycled. A DATA item is allocated on the request's
 * thread and freed on the WAL writer's (asynchronous commits), so without
 * reuse every allocation misses the allocator's per-thread cache and every
 * free takes another thread's arena lock; and its record buffer (tens of KB)
 * would cost page faults each time (glibc returns freed top-of-heap memory
 * to the kernel). Finished DATA items are therefore kept with their buffer,
 * LIFO and bounded (WAL_ITEM_POOL items, buffers of at most
 * BUF_POOL_MAX_BYTES: 16 MiB at most), for the next requests.
 */
static struct witem *item_take(struct wal *w)
{
    struct witem *it = NULL;
    pthread_mutex_lock(&w->pool_lock);
    if (w->npool)
        it = w->pool[--w->npool];
    pthread_mutex_unlock(&w->pool_lock);
    if (it) {
        struct wbuf b = it->buf;
        memset(it, 0, sizeof(*it));
        it->buf = b;
        it->buf.len = 0;
    }
    return it;
}

/* Keeps a finished DATA item for reuse; false if the pool is full or its
 * buffer too large (the caller frees it). */
static bool item_give(struct wal *w, struct witem *it)
{
    if (it->buf.cap > BUF_POOL_MAX_BYTES)
        return false;
    pthread_mutex_lock(&w->pool_lock);
    bool kept = w->npool < WAL_ITEM_POOL;
    if (kept)
        w->pool[w->npool++] = it;
    pthread_mutex_unlock(&w->pool_lock);
    return kept;
}

struct witem *wal__item_new(struct wal *w, enum witem_kind kind, bool waited)
{
    struct witem *it = kind == WITEM_DATA ? item_take(w) : NULL;
    if (!it)
        it = xcalloc(1, sizeof(*it));
    it->kind = kind;
    it->wal = w;
    it->waited = waited;
    if (waited)
        sem_init(&it->sem, 0, 0);
    return it;
}

/* Blocks until the writer posted the item; returns its rc. */
static int item_wait(struct witem *it)
{
    while (sem_wait(&it->sem) != 0 && errno == EINTR)
        ;
    return it->rc;
}

/* Hands a finished waited item to its owner: the callback of an
 * asynchronous commit (the item is freed here), or the thread blocked in
 * item_wait. Called without the WAL lock. */
static void item_complete(struct witem *it)
{
    if (it->done_fn) {
        it->done_fn(it->done_ctx, it->rc, it->err);
        wal__item_free(it);
    } else {
        sem_post(&it->sem);
    }
}

void wal__item_free(struct witem *it)
{
    if (!it)
        return;
    if (it->waited)
        sem_destroy(&it->sem);
    if (it->kind == WITEM_FLUSHED)
        for (size_t i = 0; i < it->nents; i++)
            xfree(it->ents[i]);
    if (it->ents != &it->ent1)
        xfree(it->ents);
    if (it->batches != &it->batch1)
        xfree(it->batches);
    if (it->kind == WITEM_DATA && it->wal && item_give(it->wal, it))
        return;
    wal__wbuf_free(&it->buf);
    xfree(it);
}

void wal__count_recovered(struct wal *w)
{
    atomic_fetch_add(&w->st_recovered, 1);
    metric_inc(m.recovery_records);
}

void wal__test_set_faults(struct wal *w, bool write_fail, long fsync_delay_ms)
{
    atomic_store(&w->fault_write_fail, write_fail);
    atomic_store(&w->fault_fsync_delay_ms, fsync_delay_ms);
}

/* ---- entry map (caller holds w->lock) ---------------------------------------------- */

static size_t bucket_of(uint64_t seq, size_t nbuckets)
{
    return (size_t)((seq * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & (nbuckets - 1);
}

void wal__map_insert(struct wal *w, struct went *e)
{
    if (w->nents + 1 > w->nbuckets) {
        size_t nb = w->nbuckets ? w->nbuckets * 2 : 1024;
        struct went **nbk = xcalloc(nb, sizeof(*nbk));
        for (size_t i = 0; i < w->nbuckets; i++) {
            struct went *x = w->buckets[i];
            while (x) {
                struct went *next = x->hnext;
                size_t b = bucket_of(x->seq, nb);
                x->hnext = nbk[b];
                nbk[b] = x;
                x = next;
            }
        }
        xfree(w->buckets);
        w->buckets = nbk;
        w->nbuckets = nb;
    }
    size_t b = bucket_of(e->seq, w->nbuckets);
    e->hnext = w->buckets[b];
    w->buckets[b] = e;
    w->nents++;
}

struct went *wal__map_find(struct wal *w, uint64_t seq)
{
    if (!w->nbuckets)
        return NULL;
    for (struct went *e = w->buckets[bucket_of(seq, w->nbuckets)]; e; e = e->hnext)
        if (e->seq == seq)
            return e;
    return NULL;
}

void wal__map_remove(struct wal *w, struct went *e)
{
    struct went **pp = &w->buckets[bucket_of(e->seq, w->nbuckets)];
    while (*pp && *pp != e)
        pp = &(*pp)->hnext;
    if (*pp) {
        *pp = e->hnext;
        w->nents--;
    }
    e->hnext = NULL;
}

/* ---- pending list (caller holds w->lock) ------------------------------------------- */

void wal__pending_add(struct wal *w, struct witem *it)
{
    it->pprev = NULL;
    it->pnext = w->pending;
    if (w->pending)
        w->pending->pprev = it;
    w->pending = it;
}

void wal__pending_remove(struct wal *w, struct witem *it)
{
    if (it->pprev)
        it->pprev->pnext = it->pnext;
    else if (w->pending == it)
        w->pending = it->pnext;
    if (it->pnext)
        it->pnext->pprev = it->pprev;
    it->pnext = it->pprev = NULL;
}

static bool pending_has(struct wal *w, const struct batch *b)
{
    for (struct witem *it = w->pending; it; it = it->pnext)
        for (size_t i = 0; i < it->nbatches; i++)
            if (it->batches[i] == b)
                return true;
    return false;
}

/* The entry of batch b, waiting while b is prepared but not yet committed
 * (see DESIGN). NULL if the WAL does not know b. Caller holds w->lock. */
static struct went *lookup_entry(struct wal *w, const struct batch *b)
{
    struct timespec until;
    cond_deadline_ms(&until, PENDING_WAIT_MAX_MS);
    for (;;) {
        struct went *e = b->seq ? wal__map_find(w, b->seq) : NULL;
        if (e || !pending_has(w, b))
            return e;
        if (pthread_cond_timedwait(&w->done_cv, &w->lock, &until) == ETIMEDOUT) {
            log_error("wal", "batch admitted but never committed to the WAL seq=%" PRIu64, b->seq);
            return NULL;
        }
    }
}

/* ---- file I/O (writer / syncer threads only) ------------------------------------------- */

static void set_degraded(struct wal *w, const char *what, int err)
{
    char msg[256];
    snprintf(msg, sizeof(msg), "%s: %s", what, strerror(err));
    pthread_mutex_lock(&w->lock);
    bool first = !w->degraded;
    w->degraded = true;
    snprintf(w->last_error, sizeof(w->last_error), "%s", msg);
    w->last_error_us = time_now_us();
    pthread_mutex_unlock(&w->lock);
    atomic_fetch_add(&w->st_failed, 1);
    metric_inc(m.failed);
    if (first)
        log_error("wal", "WAL degraded, refusing writes until restart dir=%s err=%s", w->dir, msg);
    else
        log_error("wal", "write or sync failed dir=%s err=%s", w->dir, msg);
}

/* Writes iov[0..n) completely (retrying short writes). -1 + errno on error. */
static int write_all(struct wal *w, int fd, struct iovec *iov, int n)
{
    if (atomic_load(&w->fault_write_fail)) {
        errno = EIO; /* ARC_TEST_FAULTS=wal_write_fail */
        return -1;
    }
    while (n > 0) {
        ssize_t k = writev(fd, iov, n > IOV_MAX ? IOV_MAX : n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        size_t left = (size_t)k;
        while (n > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0 && left) {
            iov->iov_base = (char *)iov->iov_base + left;
            iov->iov_len -= left;
        }
    }
    return 0;
}

/* fsync or fdatasync per mode (async mode: fdatasync), timed. */
static int do_sync(struct wal *w, int fd, bool fault_delay)
{
    long delay = fault_delay ? atomic_load(&w->fault_fsync_delay_ms) : 0;
    if (delay > 0)
        time_sleep_ms(delay); /* ARC_TEST_FAULTS=fsync_delay_ms=N: a slow disk */
    int64_t t0 = time_mono_ns();
    int r = w->o.sync_mode == WAL_SYNC_FSYNC ? fsync(fd) : fdatasync(fd);
    int err = errno;
    int64_t took_ns = time_mono_ns() - t0;
    atomic_fetch_add(&w->st_sync_ns, (uint64_t)took_ns);
    metric_observe(m.sync_seconds, (double)took_ns / 1e9);
    atomic_fetch_add(&w->st_syncs, 1);
    metric_inc(m.syncs);
    errno = err;
    return r;
}

/*
 * Group-commit wait. A sync costs CPU (the system call, the block layer,
 * the completion interrupt: ~50-100 µs here), so when requests arrive faster
 * than syncs complete, small groups spend CPU that requests need. When the
 * machine has no idle CPU, the writer therefore waits group_delay_us before
 * taking the queue, so that one sync covers more requests; when CPU is idle
 * it never waits (the wait would only add latency). In async mode, where
 * nothing syncs, the same wait makes fewer and larger writes and fewer
 * thread wake-ups (requests are resumed once per group). "No idle CPU" is read
 * from /proc/stat at most every CPU_CHECK_MS: busy >= CPU_SATURATED_PCT % of
 * all CPUs' time in the last window (idle and iowait are not busy).
 */
#define CPU_CHECK_MS 200
#define CPU_SATURATED_PCT 90

static struct cpu_watch *cpu_watch_new(void)
{
    struct cpu_watch *cw = xcalloc(1, sizeof(*cw));
    pthread_mutex_init(&cw->lock, NULL);
    atomic_init(&cw->saturated, false);
    cw->fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);
    if (cw->fd < 0)
        log_warn("wal", "cannot read /proc/stat (%s): the CPU is taken as never saturated",
                 strerror(errno));
    return cw;
}

static void cpu_watch_free(struct cpu_watch **cwp)
{
    struct cpu_watch *cw = *cwp;
    if (!cw)
        return;
    if (cw->fd >= 0)
        close(cw->fd);
    pthread_mutex_destroy(&cw->lock);
    xfree(cw);
    *cwp = NULL;
}

/* Takes a sample if the window is over (cw->lock held). */
static void cpu_sample(struct cpu_watch *cw)
{
    int64_t now = time_mono_ms();
    if (now < cw->next_check_ms)
        return;
    cw->next_check_ms = now + CPU_CHECK_MS;
    char buf[512];
    ssize_t n = pread(cw->fd, buf, sizeof(buf) - 1, 0);
    uint64_t busy, total;
    if (n > 0)
        buf[n] = '\0';
    if (n <= 0 || !procstat_cpu_times(buf, &busy, &total)) {
        if (!cw->read_error_logged)
            log_warn("wal",
                     "cannot read the CPU line of /proc/stat (%s): the CPU is taken as "
                     "not saturated",
                     n < 0 ? strerror(errno) : "no CPU line");
        cw->read_error_logged = true;
        atomic_store(&cw->saturated, false);
        return;
    }
    /* The first sample, or counters that went back (CPU hot-unplug), only
     * set the base. */
    bool base = cw->total == 0 || total < cw->total || busy < cw->busy;
    uint64_t db = busy - cw->busy, dt = total - cw->total;
    cw->busy = busy;
    cw->total = total;
    atomic_store(&cw->saturated, !base && dt > 0 && db * 100 >= dt * CPU_SATURATED_PCT);
}

/* Tests: -1 = measure, 0 / 1 = report idle / saturated. */
static _Atomic int cpu_forced = -1;

void wal__test_force_cpu_saturated(int v)
{
    atomic_store(&cpu_forced, v);
}

/* True if the machine had no idle CPU over the last window; false without
 * a watch (NULL) or without /proc/stat. Any thread. */
static bool cpu_saturated(struct cpu_watch *cw)
{
    int forced = atomic_load(&cpu_forced);
    if (forced >= 0)
        return forced == 1;
    if (!cw || cw->fd < 0)
        return false;
    if (pthread_mutex_trylock(&cw->lock) == 0) {
        cpu_sample(cw);
        pthread_mutex_unlock(&cw->lock);
    }
    return atomic_load(&cw->saturated);
}

/* ---- preallocation (arc-wal-prep) -------------------------------------------------- */

static const uint8_t zero_chunk[ZERO_CHUNK];

/* Removes spare files left by an earlier run (they never hold records). */
static void remove_stale_spares(struct wal *w)
{
    int dfd = openat(w->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        if (dfd >= 0)
            close(dfd);
        return;
    }
    struct dirent *de;
    size_t plen = strlen(SPARE_PREFIX), slen = strlen(SPARE_SUFFIX);
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n > plen + slen && !strncmp(de->d_name, SPARE_PREFIX, plen) &&
            !strcmp(de->d_name + n - slen, SPARE_SUFFIX) && unlinkat(w->dirfd, de->d_name, 0) != 0)
            log_warn("wal", "cannot remove stale spare segment path=%s/%s err=%s", w->dir,
                     de->d_name, strerror(errno));
    }
    closedir(d);
}

/* Creates `name`, zero-filled to `bytes` and synced, so that
 * writing records over it later changes neither its size nor its block
 * allocation. Returns the descriptor, or -1 with errno (ECANCELED when the
 * WAL is closing). */
static int spare_make(struct wal *w, const char *name, uint64_t bytes, bool pause_when_busy)
{
    int fd = openat(w->dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    uint64_t off = 0;
    while (off < bytes) {
        if (atomic_load(&w->prep_stop)) {
            errno = ECANCELED;
            goto fail;
        }
        if (pause_when_busy && cpu_saturated(w->cpu)) {
            /* Zero-filling is CPU and disk bandwidth taken from requests
             * (measured: -15 % at 64 × 500-row writers); while the machine
             * has no idle CPU the writer appends instead, and this waits. */
            time_sleep_ms(CPU_CHECK_MS);
            continue;
        }
        uint64_t left = bytes - off;
        ssize_t k =
            pwrite(fd, zero_chunk, left < ZERO_CHUNK ? (size_t)left : ZERO_CHUNK, (off_t)off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            goto fail;
        off += (uint64_t)k;
    }
    if (fdatasync(fd) == 0)
        return fd;
fail:;
    int err = errno ? errno : EIO;
    close(fd);
    unlinkat(w->dirfd, name, 0);
    errno = err;
    return -1;
}

/* The preparer keeps one spare ready: it makes one whenever there is none
 * (at start, and each time the writer took it). On failure (disk full,
 * unsupported) it logs once and stops: segments are then created empty and
 * grow by appending, which is correct, only slower to sync. */
static void *prep_main(void *arg)
{
    struct wal *w = arg;
    pthread_setname_np(pthread_self(), "arc-wal-prep");
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!atomic_load(&w->prep_stop) && w->spare_fd >= 0)
            pthread_cond_wait(&w->prep_cv, &w->lock);
        if (atomic_load(&w->prep_stop))
            break;
        char name[WAL_NAME_MAX];
        snprintf(name, sizeof(name), SPARE_PREFIX "%" PRIu64 SPARE_SUFFIX, w->spare_counter++);
        pthread_mutex_unlock(&w->lock);
        int64_t t0 = time_mono_ns();
        int fd = spare_make(w, name, w->prealloc_bytes, true);
        int err = errno;
        pthread_mutex_lock(&w->lock);
        if (fd < 0) {
            if (err != ECANCELED) {
                w->prep_off = true;
                log_warn("wal",
                         "cannot preallocate a segment; segments grow by appending from now on "
                         "dir=%s err=%s",
                         w->dir, strerror(err));
            }
            break;
        }
        w->spare_fd = fd;
        w->spare_bytes = w->prealloc_bytes;
        snprintf(w->spare_name, sizeof(w->spare_name), "%s", name);
        log_debug("wal", "spare segment ready bytes=%llu ms=%lld",
                  (unsigned long long)w->prealloc_bytes,
                  (long long)((time_mono_ns() - t0) / 1000000));
    }
    int fd = w->spare_fd;
    char name[WAL_NAME_MAX];
    snprintf(name, sizeof(name), "%s", w->spare_name);
    w->spare_fd = -1;
    pthread_mutex_unlock(&w->lock);
    if (fd >= 0) {
        close(fd);
        unlinkat(w->dirfd, name, 0);
    }
    return NULL;
}

/* Takes the ready spare (writer thread): its descriptor and name, or -1.
 * The preparer starts the next one under a new name at once. */
static int spare_take(struct wal *w, char *name, size_t cap, uint64_t *bytes)
{
    pthread_mutex_lock(&w->lock);
    int fd = w->spare_fd;
    if (fd >= 0) {
        snprintf(name, cap, "%s", w->spare_name);
        *bytes = w->spare_bytes;
        w->spare_fd = -1;
        pthread_cond_signal(&w->prep_cv);
    }
    pthread_mutex_unlock(&w->lock);
    return fd;
}

static bool spare_ready(struct wal *w)
{
    pthread_mutex_lock(&w->lock);
    bool r = w->spare_fd >= 0;
    pthread_mutex_unlock(&w->lock);
    return r;
}

/* ---- segments (writer thread) ------------------------------------------------------ */

enum { OPEN_OK, OPEN_NAME_TAKEN, OPEN_FAILED };

/* Turns the spare into segment `name`: header written and synced first,
 * then the rename, so a crash leaves either a spare (removed at start) or a
 * segment with a valid header followed by zeros. On OPEN_FAILED the spare is
 * gone and errno says why. */
static int seg_open_spare(struct wal *w, int sfd, const char *spare, const char *name,
                          const uint8_t *hdr, bool sync)
{
    if (pwrite(sfd, hdr, WAL_SEG_HDR_BYTES, 0) != WAL_SEG_HDR_BYTES ||
        (sync && fdatasync(sfd) != 0))
        goto fail;
    if (renameat2(w->dirfd, spare, w->dirfd, name, RENAME_NOREPLACE) != 0) {
        if (errno == EEXIST)
            return OPEN_NAME_TAKEN;
        goto fail;
    }
    if (lseek(sfd, WAL_SEG_HDR_BYTES, SEEK_SET) != WAL_SEG_HDR_BYTES)
        return OPEN_FAILED; /* cannot happen on a regular file */
    return OPEN_OK;
fail:;
    int err = errno;
    unlinkat(w->dirfd, spare, 0);
    errno = err;
    return OPEN_FAILED;
}

/* Creates an empty segment `name` and writes its header. */
static int seg_open_new(struct wal *w, const char *name, const uint8_t *hdr, int *fd_out)
{
    int fd = openat(w->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return errno == EEXIST ? OPEN_NAME_TAKEN : OPEN_FAILED;
    if (write(fd, hdr, WAL_SEG_HDR_BYTES) != WAL_SEG_HDR_BYTES ||
        (w->o.sync_mode != WAL_SYNC_ASYNC && fdatasync(fd) != 0)) {
        int err = errno;
        close(fd);
        unlinkat(w->dirfd, name, 0);
        errno = err;
        return OPEN_FAILED;
    }
    *fd_out = fd;
    return OPEN_OK;
}

/* Creates the next segment (writer thread): from the spare when one is
 * ready (*file_bytes = its preallocated size), else empty (*file_bytes = 0).
 * In the sync modes its header and directory entry are durable before any
 * record in it can be acknowledged. */
static int seg_create(struct wal *w, struct wseg **out, int *fd_out, uint64_t *file_bytes,
                      char *err, size_t errcap)
{
    bool sync = w->o.sync_mode != WAL_SYNC_ASYNC;
    char spare[WAL_NAME_MAX];
    uint64_t spare_bytes = 0;
    int sfd = spare_take(w, spare, sizeof(spare), &spare_bytes);
    for (int attempt = 0; attempt < 16; attempt++) {
        pthread_mutex_lock(&w->lock);
        uint64_t seq = w->next_seg_seq++;
        pthread_mutex_unlock(&w->lock);
        int64_t now = time_now_us();
        char name[WAL_NAME_MAX];
        wal__segment_name(name, sizeof(name), now, seq);
        uint8_t hdr[WAL_SEG_HDR_BYTES];
        wal__segment_header(hdr, seq, now);
        int fd = -1, r;
        if (sfd >= 0) {
            r = seg_open_spare(w, sfd, spare, name, hdr, sync);
            if (r == OPEN_OK) {
                fd = sfd;
                *file_bytes = spare_bytes;
            } else if (r == OPEN_FAILED) {
                log_warn("wal", "spare segment unusable, creating an empty one err=%s",
                         strerror(errno));
                close(sfd);
                sfd = -1;
            }
        }
        if (sfd < 0) {
            r = seg_open_new(w, name, hdr, &fd);
            *file_bytes = 0;
        }
        if (r == OPEN_NAME_TAKEN)
            continue;
        if (r == OPEN_OK && sync && fsync(w->dirfd) != 0) {
            r = OPEN_FAILED;
            close(fd);
            unlinkat(w->dirfd, name, 0);
        }
        if (r != OPEN_OK) {
            snprintf(err, errcap, "cannot create segment %s/%s: %s", w->dir, name, strerror(errno));
            return RC_IO;
        }
        struct wseg *g = xcalloc(1, sizeof(*g));
        g->seq = seq;
        snprintf(g->name, sizeof(g->name), "%s", name);
        g->created_us = now;
        g->created_mono_ms = time_mono_ms();
        g->bytes = WAL_SEG_HDR_BYTES;
        g->active = true;
        atomic_fetch_add(&w->st_bytes, WAL_SEG_HDR_BYTES);
        *out = g;
        *fd_out = fd;
        return RC_OK;
    }
    if (sfd >= 0) {
        close(sfd);
        unlinkat(w->dirfd, spare, 0);
    }
    snprintf(err, errcap, "cannot create a segment in %s: names taken", w->dir);
    return RC_IO;
}

/* A segment that will not be appended to again gives back the preallocated
 * zeros after its last record (not synced: after a crash the zeros read as
 * the clean end of the segment). */
static void seg_trim(struct wal *w, struct writer_state *ws)
{
    if (ws->fd >= 0 && ws->file_bytes > ws->bytes && ftruncate(ws->fd, (off_t)ws->bytes) != 0)
        log_warn("wal", "cannot trim segment dir=%s err=%s", w->dir, strerror(errno));
    ws->file_bytes = 0;
}

/* Makes g the active segment (appended to the list). */
static void seg_install(struct wal *w, struct wseg *g, int fd)
{
    int dupfd = w->o.sync_mode == WAL_SYNC_ASYNC ? dup(fd) : -1;
    pthread_mutex_lock(&w->lock);
    if (w->active)
        w->active->active = false;
    struct wseg **pp = &w->segs;
    while (*pp)
        pp = &(*pp)->next;
    *pp = g;
    w->active = g;
    w->nsegs++;
    w->segs_bytes += g->bytes;
    if (w->o.sync_mode == WAL_SYNC_ASYNC) {
        /* The syncer syncs (and closes) the previous descriptor once more. */
        if (w->sync_fd >= 0) {
            w->sync_close_fds =
                xrealloc(w->sync_close_fds, (w->n_sync_close_fds + 1) * sizeof(int));
            w->sync_close_fds[w->n_sync_close_fds++] = w->sync_fd;
        }
        w->sync_fd = dupfd;
    }
    size_t nsegs = w->nsegs;
    pthread_mutex_unlock(&w->lock);
    metric_set(m.segments, (int64_t)nsegs);
}

static int rotate(struct wal *w, struct writer_state *ws, char *err, size_t errcap)
{
    struct wseg *g;
    int fd;
    uint64_t file_bytes;
    int rc = seg_create(w, &g, &fd, &file_bytes, err, errcap);
    if (rc != RC_OK)
        return rc; /* the old segment stays active */
    seg_trim(w, ws);
    close(ws->fd); /* sync modes: everything in it was synced already */
    ws->fd = fd;
    ws->bytes = WAL_SEG_HDR_BYTES;
    ws->file_bytes = file_bytes;
    ws->unsynced = false; /* its header was synced by seg_create (sync modes) */
    seg_install(w, g, fd);
    atomic_fetch_add(&w->st_rotations, 1);
    metric_inc(m.rotations);
    log_info("wal", "segment rotated new=%s preallocated=%s", g->name,
             file_bytes ? "true" : "false");
    return RC_OK;
}

/* Unlinks (or renames to .wal.recovered) the retired segments, oldest first. */
static void retire(struct wal *w, struct wseg *list)
{
    bool any = false;
    size_t count = 0;
    while (list) {
        count++;
        struct wseg *g = list;
        list = g->next;
        if (g->replayed) {
            /* A crash left its preallocated zeros: keep only the records. */
            int fd = g->bytes >= WAL_SEG_HDR_BYTES ? openat(w->dirfd, g->name, O_WRONLY | O_CLOEXEC)
                                                   : -1;
            struct stat st;
            if (fd >= 0 && fstat(fd, &st) == 0 && (uint64_t)st.st_size > g->bytes &&
                ftruncate(fd, (off_t)g->bytes) != 0)
                log_warn("wal", "cannot trim replayed segment path=%s/%s err=%s", w->dir, g->name,
                         strerror(errno));
            if (fd >= 0)
                close(fd);
            char to[WAL_NAME_MAX + 16];
            snprintf(to, sizeof(to), "%s.recovered", g->name);
            if (renameat(w->dirfd, g->name, w->dirfd, to) != 0)
                log_error("wal", "cannot rename replayed segment path=%s/%s err=%s", w->dir,
                          g->name, strerror(errno));
            else {
                /* The file's time says when it was recovered (recovery
                 * history, retention). */
                utimensat(w->dirfd, to, NULL, 0);
                log_info("wal", "replayed segment retired path=%s/%s", w->dir, to);
            }
        } else {
            if (unlinkat(w->dirfd, g->name, 0) != 0 && errno != ENOENT)
                log_error("wal", "cannot delete segment path=%s/%s err=%s", w->dir, g->name,
                          strerror(errno));
            else
                log_debug("wal", "segment retired path=%s/%s", w->dir, g->name);
        }
        any = true;
        xfree(g);
    }
    if (any)
        fsync(w->dirfd);
    pthread_mutex_lock(&w->lock);
    w->retiring -= count;
    pthread_cond_broadcast(&w->done_cv); /* wal_replay waits for its segments */
    pthread_mutex_unlock(&w->lock);
}

/* Detaches the retirable prefix of the segment list. Caller holds the lock. */
static struct wseg *collect_retirable(struct wal *w)
{
    struct wseg *head = NULL, **tail = &head;
    while (w->segs && !w->segs->active && !w->segs->pinned && w->segs->outstanding == 0) {
        struct wseg *g = w->segs;
        w->segs = g->next;
        g->next = NULL;
        *tail = g;
        tail = &g->next;
        w->nsegs--;
        w->segs_bytes -= g->bytes;
        w->retiring++;
    }
    return head;
}

static void retire_now(struct wal *w)
{
    pthread_mutex_lock(&w->lock);
    struct wseg *r = collect_retirable(w);
    size_t nsegs = w->nsegs;
    pthread_mutex_unlock(&w->lock);
    if (r) {
        retire(w, r);
        metric_set(m.segments, (int64_t)nsegs);
    }
}

static int do_cleanup(struct wal *w, int64_t max_age_ms, uint64_t *deleted, uint64_t *freed,
                      char *err, size_t errcap)
{
    *deleted = *freed = 0;
    int dfd = openat(w->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        snprintf(err, errcap, "cannot read %s: %s", w->dir, strerror(errno));
        if (dfd >= 0)
            close(dfd);
        return RC_IO;
    }
    int64_t now = time_now_us();
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        uint64_t seq;
        bool recovered;
        if (!wal__segment_name_parse(de->d_name, &seq, &recovered) || !recovered)
            continue;
        struct stat st;
        if (fstatat(w->dirfd, de->d_name, &st, 0) != 0)
            continue;
        int64_t mtime = (int64_t)st.st_mtim.tv_sec * US_PER_SEC + st.st_mtim.tv_nsec / 1000;
        if ((now - mtime) / 1000 < max_age_ms)
            continue;
        if (unlinkat(w->dirfd, de->d_name, 0) == 0) {
            (*deleted)++;
            *freed += (uint64_t)st.st_size;
            log_info("wal", "recovered segment removed path=%s/%s", w->dir, de->d_name);
        }
    }
    closedir(d);
    if (*deleted)
        fsync(w->dirfd);
    return RC_OK;
}

/* ---- the writer ------------------------------------------------------------------------ */

struct iov_acc {
    struct iovec iov[MAX_IOV];
    int n;
    uint64_t bytes;
};

/* Writes the accumulated records to the active segment and, with `sync` in
 * the sync modes, syncs what was written since the last sync (one sync per
 * group, however many writev calls it took). Returns 0 or an errno. */
static int flush_acc(struct wal *w, struct writer_state *ws, struct iov_acc *a, bool sync,
                     char *err, size_t errcap)
{
    if (a->n > 0) {
        if (write_all(w, ws->fd, a->iov, a->n) != 0) {
            int e = errno ? errno : EIO;
            snprintf(err, errcap, "write failed");
            return e;
        }
        ws->bytes += a->bytes;
        ws->unsynced = true;
        atomic_fetch_add(&w->st_bytes, a->bytes);
        atomic_fetch_add(&w->written_total, a->bytes);
        metric_add(m.bytes, a->bytes);
        a->n = 0;
        a->bytes = 0;
    }
    if (!sync || !ws->unsynced || w->o.sync_mode == WAL_SYNC_ASYNC)
        return 0;
    ws->unsynced = false;
    if (do_sync(w, ws->fd, true) != 0) {
        int e = errno ? errno : EIO;
        snprintf(err, errcap, "%s failed",
                 w->o.sync_mode == WAL_SYNC_FSYNC ? "fsync" : "fdatasync");
        return e;
    }
    return 0;
}

static bool item_has_bytes(const struct witem *it)
{
    return it->buf.len > 0 &&
           (it->kind == WITEM_DATA || it->kind == WITEM_INTENT || it->kind == WITEM_FLUSHED);
}

static void process_group(struct wal *w, struct writer_state *ws, struct witem *list)
{
    pthread_mutex_lock(&w->lock);
    bool degraded = w->degraded;
    char deg_msg[300];
    snprintf(deg_msg, sizeof(deg_msg), "WAL is degraded after an earlier failure (%s)",
             w->last_error);
    pthread_mutex_unlock(&w->lock);

    struct iov_acc *a = xmalloc(sizeof(*a));
    a->n = 0;
    a->bytes = 0;
    int err_no = 0;
    char err[128] = "";
    uint64_t data_records = 0;
    for (struct witem *it = list; it; it = it->next) {
        if (!item_has_bytes(it) || degraded || err_no)
            continue;
        uint64_t cur = ws->bytes + a->bytes, end = cur + it->buf.len;
        /* Rotate at the size limit, and where the preallocated space ends
         * if a spare is ready (else keep appending). */
        if (cur > WAL_SEG_HDR_BYTES &&
            (end > w->o.max_segment_bytes ||
             (ws->file_bytes && end > ws->file_bytes && spare_ready(w)))) {
            err_no = flush_acc(w, ws, a, true, err, sizeof(err));
            if (!err_no) {
                char rerr[ERRBUF_SIZE];
                if (rotate(w, ws, rerr, sizeof(rerr)) != RC_OK) {
                    log_error("wal", "rotation failed: %s", rerr);
                    snprintf(err, sizeof(err), "segment rotation failed");
                    err_no = EIO;
                }
            }
            if (err_no)
                continue;
        }
        if (a->n == MAX_IOV) {
            err_no = flush_acc(w, ws, a, false, err, sizeof(err));
            if (err_no)
                continue;
        }
        a->iov[a->n].iov_base = it->buf.p;
        a->iov[a->n].iov_len = it->buf.len;
        a->n++;
        a->bytes += it->buf.len;
        it->seg = w->active; /* only the writer changes w->active */
        if (it->kind == WITEM_DATA)
            data_records += it->nbatches;
    }
    if (!degraded && !err_no)
        err_no = flush_acc(w, ws, a, true, err, sizeof(err));
    xfree(a);
    if (err_no) {
        set_degraded(w, err, err_no);
        snprintf(deg_msg, sizeof(deg_msg), "WAL %s: %s", err, strerror(err_no));
    }
    bool ok = !degraded && !err_no;
    if (ok && data_records) {
        atomic_fetch_add(&w->st_entries, data_records);
        atomic_fetch_add(&w->st_groups, 1);
        metric_add(m.entries, data_records);
        metric_inc(m.groups);
        metric_add(m.group_entries, data_records);
    }

    /* Control items need file operations: run them here, outside the lock. */
    for (struct witem *it = list; it; it = it->next)
        if (it->kind == WITEM_CLEANUP)
            it->rc = do_cleanup(w, it->max_age_ms, &it->deleted, &it->freed_bytes, it->err,
                                sizeof(it->err));

    struct witem *to_free = NULL, *to_post = NULL;
    pthread_mutex_lock(&w->lock);
    if (w->active) {
        w->segs_bytes += ws->bytes - w->active->bytes;
        w->active->bytes = ws->bytes;
    }
    for (struct witem *it = list, *next; it; it = next) {
        next = it->next;
        switch (it->kind) {
        case WITEM_DATA:
        case WITEM_INTENT:
            if (ok) {
                it->rc = RC_OK;
                for (size_t i = 0; i < it->nents; i++) {
                    if (!it->ents[i])
                        continue;
                    it->ents[i]->seg = it->seg;
                    it->seg->outstanding++;
                }
            } else {
                it->rc = RC_IO;
                snprintf(it->err, sizeof(it->err), "%.*s", (int)sizeof(it->err) - 1, deg_msg);
            }
            break;
        case WITEM_FLUSHED:
            for (size_t i = 0; i < it->nents; i++) {
                struct wseg *g = it->ents[i]->seg;
                if (g && g->outstanding)
                    g->outstanding--;
            }
            break;
        default: break;
        }
        if (it->waited) {
            it->done = true;
            it->next = to_post;
            to_post = it;
        } else {
            it->next = to_free;
            to_free = it;
        }
    }
    struct wseg *r = collect_retirable(w);
    size_t nsegs = w->nsegs;
    pthread_cond_broadcast(&w->done_cv); /* pending-commit and replay waiters, if any */
    pthread_mutex_unlock(&w->lock);
    /* Waited items belong to their waiters once posted: read next first. */
    while (to_post) {
        struct witem *n = to_post->next;
        item_complete(to_post);
        to_post = n;
    }
    while (to_free) {
        struct witem *n = to_free->next;
        wal__item_free(to_free);
        to_free = n;
    }
    if (r) {
        retire(w, r);
        metric_set(m.segments, (int64_t)nsegs);
    }
}

static void housekeeping(struct wal *w, struct writer_state *ws, int64_t *next_disk,
                         int64_t *next_cleanup)
{
    int64_t now = time_mono_ms();
    pthread_mutex_lock(&w->lock);
    struct wseg *g = w->active;
    bool rot = g && !w->degraded && ws->bytes > WAL_SEG_HDR_BYTES &&
               now - g->created_mono_ms >= w->o.max_segment_age_ms;
    pthread_mutex_unlock(&w->lock);
    if (rot) {
        char err[ERRBUF_SIZE];
        /* Everything written so far was synced by its group (sync modes) or
         * is handed to the syncer with the old descriptor (async). */
        if (rotate(w, ws, err, sizeof(err)) != RC_OK) {
            log_error("wal", "age rotation failed: %s", err);
            set_degraded(w, "segment rotation failed", EIO);
        }
        retire_now(w);
    }
    if (now >= *next_disk) {
        struct statvfs sv;
        if (statvfs(w->dir, &sv) == 0 && sv.f_blocks > 0)
            atomic_store(&w->disk_free_permille,
                         (int64_t)((double)sv.f_bavail * 1000.0 / (double)sv.f_blocks));
        *next_disk = now + DISK_CHECK_MS;
    }
    if (now >= *next_cleanup) {
        if (w->o.recovered_retention_ms >= 0) {
            uint64_t d, f;
            char err[200];
            if (do_cleanup(w, w->o.recovered_retention_ms, &d, &f, err, sizeof(err)) != RC_OK)
                log_warn("wal", "automatic cleanup failed: %s", err);
        }
        *next_cleanup = now + AUTO_CLEANUP_MS;
    }
}

static void *writer_main(void *arg)
{
    struct wal *w = arg;
    pthread_setname_np(pthread_self(), "arc-wal");
    struct writer_state ws = {.fd = -1};
    char err[ERRBUF_SIZE] = "";
    struct wseg *g = NULL;
    /* The first segment is preallocated too, but small so that opening
     * stays quick; the preparer makes full-size spares from then on, and
     * the writer moves to one when this one's zeros are used up. */
    if (w->prealloc_bytes) {
        uint64_t first =
            w->prealloc_bytes < FIRST_PREALLOC_BYTES ? w->prealloc_bytes : FIRST_PREALLOC_BYTES;
        char name[WAL_NAME_MAX];
        snprintf(name, sizeof(name), SPARE_PREFIX "first" SPARE_SUFFIX);
        int sfd = spare_make(w, name, first, false);
        pthread_mutex_lock(&w->lock);
        if (sfd >= 0) {
            w->spare_fd = sfd;
            w->spare_bytes = first;
            snprintf(w->spare_name, sizeof(w->spare_name), "%s", name);
        }
        pthread_mutex_unlock(&w->lock);
    }
    int rc = seg_create(w, &g, &ws.fd, &ws.file_bytes, err, sizeof(err));
    if (rc == RC_OK) {
        ws.bytes = WAL_SEG_HDR_BYTES;
        seg_install(w, g, ws.fd);
    }
    pthread_mutex_lock(&w->lock);
    w->writer_start_rc = rc;
    snprintf(w->writer_start_err, sizeof(w->writer_start_err), "%s", err);
    w->writer_ready = true;
    if (rc != RC_OK)
        w->writer_exited = true;
    pthread_cond_broadcast(&w->done_cv);
    pthread_mutex_unlock(&w->lock);
    if (rc != RC_OK)
        return NULL;

    int64_t next_hk = time_mono_ms() + HOUSEKEEPING_MS;
    int64_t next_disk = 0, next_cleanup = time_mono_ms() + AUTO_CLEANUP_MS;
    for (;;) {
        bool may_wait = w->o.group_delay_us > 0 && cpu_saturated(w->cpu);
        pthread_mutex_lock(&w->lock);
        while (!w->qhead && !w->stopping) {
            if (time_mono_ms() >= next_hk)
                break;
            struct timespec until;
            cond_deadline_ms(&until, next_hk - time_mono_ms());
            pthread_cond_timedwait(&w->work_cv, &w->lock, &until);
        }
        if (may_wait && w->qhead && !w->stopping) {
            /* Group-commit wait (above): enqueuers do not wake us meanwhile. */
            pthread_mutex_unlock(&w->lock);
            struct timespec d = {.tv_sec = w->o.group_delay_us / 1000000,
                                 .tv_nsec = w->o.group_delay_us % 1000000 * 1000};
            nanosleep(&d, NULL);
            metric_inc(m.group_waits);
            pthread_mutex_lock(&w->lock);
        }
        struct witem *list = w->qhead;
        w->qhead = w->qtail = NULL;
        w->queued_entries = 0;
        w->queued_bytes = 0;
        bool stop = w->stopping && !list;
        size_t depth = w->reserved_entries;
        pthread_mutex_unlock(&w->lock);
        metric_set(m.queue_depth, (int64_t)depth);
        if (list)
            process_group(w, &ws, list);
        if (time_mono_ms() >= next_hk) {
            housekeeping(w, &ws, &next_disk, &next_cleanup);
            next_hk = time_mono_ms() + HOUSEKEEPING_MS;
        }
        if (stop)
            break;
    }

    /* Items enqueued between the last take and writer_exited still go out;
     * later ones are refused by their enqueuers. */
    pthread_mutex_lock(&w->lock);
    w->writer_exited = true;
    struct witem *left = w->qhead;
    w->qhead = w->qtail = NULL;
    w->queued_entries = 0;
    w->queued_bytes = 0;
    pthread_mutex_unlock(&w->lock);
    if (left)
        process_group(w, &ws, left);

    /* Closing: the active segment is no longer appended to; everything whose
     * rows were all flushed goes, in order (a clean shutdown leaves none). */
    pthread_mutex_lock(&w->lock);
    if (w->active)
        w->active->active = false;
    struct wseg *r = collect_retirable(w);
    size_t kept = w->nsegs;
    pthread_mutex_unlock(&w->lock);
    seg_trim(w, &ws);
    if (ws.fd >= 0)
        close(ws.fd);
    retire(w, r);
    metric_set(m.segments, (int64_t)kept);
    if (kept)
        log_info("wal", "closed; segments kept for replay count=%zu dir=%s", kept, w->dir);
    else
        log_info("wal", "closed; every logged row was flushed, no segment left dir=%s", w->dir);
    return NULL;
}

/* Async mode: syncs the active segment every async_sync_interval_ms (and
 * once more each segment rotated away), so the writer never waits for a
 * sync and an OS crash loses at most about one interval. */
static void *syncer_main(void *arg)
{
    struct wal *w = arg;
    pthread_setname_np(pthread_self(), "arc-wal-sync");
    uint64_t synced = 0;
    bool first = true;
    for (;;) {
        pthread_mutex_lock(&w->lock);
        if (!w->syncer_stop) {
            struct timespec until;
            cond_deadline_ms(&until, w->o.async_sync_interval_ms);
            pthread_cond_timedwait(&w->sync_cv, &w->lock, &until);
        }
        bool stop = w->syncer_stop;
        int *fds = w->sync_close_fds;
        size_t nfds = w->n_sync_close_fds;
        w->sync_close_fds = NULL;
        w->n_sync_close_fds = 0;
        int fd = w->sync_fd >= 0 ? dup(w->sync_fd) : -1;
        pthread_mutex_unlock(&w->lock);

        uint64_t written = atomic_load(&w->written_total);
        for (size_t i = 0; i < nfds; i++) {
            if (do_sync(w, fds[i], true) != 0)
                set_degraded(w, "fdatasync of a rotated segment failed", errno);
            close(fds[i]);
        }
        xfree(fds);
        if (fd >= 0) {
            if (written != synced && do_sync(w, fd, true) != 0)
                set_degraded(w, "fdatasync failed", errno);
            close(fd);
        }
        /* Segments are created (and renamed into place) without a directory
         * sync in this mode; make their names durable too, or an OS crash
         * could lose a whole segment rather than the last interval. */
        if ((first || nfds) && fsync(w->dirfd) != 0)
            set_degraded(w, "directory sync failed", errno);
        first = false;
        synced = written;
        if (stop)
            break;
    }
    return NULL;
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

static int mkdir_p(const char *dir, struct errbuf *eb)
{
    char cur[4096];
    size_t n = strlen(dir);
    if (n >= sizeof(cur))
        return errbuf_set(eb, RC_INVALID, "wal.dir too long");
    memcpy(cur, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (cur[i] != '/' && cur[i] != '\0')
            continue;
        char c = cur[i];
        cur[i] = '\0';
        if (mkdir(cur, 0755) != 0 && errno != EEXIST)
            return errbuf_set(eb, RC_IO, "wal: cannot create directory %s: %s", cur,
                              strerror(errno));
        cur[i] = c;
    }
    return RC_OK;
}

static void free_segs(struct wseg *g)
{
    while (g) {
        struct wseg *n = g->next;
        xfree(g);
        g = n;
    }
}

static void wal_free(struct wal *w)
{
    free_segs(w->segs);
    for (size_t i = 0; i < w->nbuckets; i++) {
        struct went *e = w->buckets[i];
        while (e) {
            struct went *n = e->hnext;
            xfree(e);
            e = n;
        }
    }
    xfree(w->buckets);
    for (size_t i = 0; i < w->n_sync_close_fds; i++)
        close(w->sync_close_fds[i]);
    xfree(w->sync_close_fds);
    if (w->sync_fd >= 0)
        close(w->sync_fd);
    wal__scan_free(&w->scan);
    if (w->dirfd >= 0)
        close(w->dirfd);
    if (w->lockfd >= 0)
        close(w->lockfd); /* releases the flock */
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->work_cv);
    pthread_cond_destroy(&w->done_cv);
    pthread_cond_destroy(&w->sync_cv);
    pthread_cond_destroy(&w->prep_cv);
    for (size_t i = 0; i < w->npool; i++) {
        wal__wbuf_free(&w->pool[i]->buf);
        xfree(w->pool[i]);
    }
    pthread_mutex_destroy(&w->pool_lock);
    cpu_watch_free(&w->cpu);
    xfree(w->dir);
    xfree(w);
}

int wal_open(const struct wal_options *opts, struct wal **out, struct errbuf *eb)
{
    pthread_once(&metrics_once, init_metrics);
    if (!opts || !opts->dir || !*opts->dir)
        return errbuf_set(eb, RC_INVALID, "wal: dir is required");
    struct wal *w = xcalloc(1, sizeof(*w));
    w->o = *opts;
    w->dir = xstrdup(opts->dir);
    w->o.dir = w->dir;
    if (!w->o.max_segment_bytes)
        w->o.max_segment_bytes = DEFAULT_SEGMENT_BYTES;
    if (w->o.max_segment_age_ms <= 0)
        w->o.max_segment_age_ms = DEFAULT_SEGMENT_AGE_MS;
    if (!w->o.queue_size)
        w->o.queue_size = DEFAULT_QUEUE_SIZE;
    if (w->o.async_sync_interval_ms <= 0)
        w->o.async_sync_interval_ms = DEFAULT_ASYNC_INTERVAL_MS;
    w->dirfd = -1;
    w->lockfd = -1;
    w->sync_fd = -1;
    w->spare_fd = -1;
    atomic_init(&w->prep_stop, false);
    if (!w->o.no_preallocate)
        w->prealloc_bytes = w->o.max_segment_bytes < PREALLOC_MAX_BYTES ? w->o.max_segment_bytes
                                                                        : PREALLOC_MAX_BYTES;
    if (w->o.group_delay_us > 0 || w->prealloc_bytes)
        w->cpu = cpu_watch_new();
    atomic_init(&w->disk_free_permille, -1);
    atomic_init(&w->fault_write_fail, faults_enabled("wal_write_fail"));
    atomic_init(&w->fault_fsync_delay_ms, faults_value("fsync_delay_ms", 0));
    pthread_mutex_init(&w->lock, NULL);
    pthread_mutex_init(&w->pool_lock, NULL);
    cond_init_monotonic(&w->work_cv);
    cond_init_monotonic(&w->done_cv);
    cond_init_monotonic(&w->sync_cv);
    cond_init_monotonic(&w->prep_cv);

    int rc = mkdir_p(w->dir, eb);
    if (rc != RC_OK)
        goto fail;
    w->dirfd = open(w->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (w->dirfd < 0) {
        rc = errbuf_set(eb, RC_IO, "wal: cannot open directory %s: %s", w->dir, strerror(errno));
        goto fail;
    }
    /* Two processes appending to and retiring the same segments would lose
     * data: the second one is refused. */
    w->lockfd = openat(w->dirfd, ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (w->lockfd < 0 || flock(w->lockfd, LOCK_EX | LOCK_NB) != 0) {
        rc = errbuf_set(eb, RC_IO, "wal: directory %s is in use by another process (%s)", w->dir,
                        strerror(errno));
        goto fail;
    }
    remove_stale_spares(w);
    struct wseg *segs = NULL;
    rc = wal__scan_dir(w->dirfd, w->dir, &w->scan, &segs, eb);
    if (rc != RC_OK)
        goto fail;
    w->segs = segs;
    for (struct wseg *g = segs; g; g = g->next) {
        w->nsegs++;
        w->segs_bytes += g->bytes;
    }
    w->next_seg_seq = w->scan->max_seg_seq + 1;
    /* LSNs never repeat: above every LSN still on disk, and time-based so
     * they also grow across runs whose segments were all deleted. */
    w->next_lsn = w->scan->max_lsn + 1;
    if ((uint64_t)time_now_us() > w->next_lsn)
        w->next_lsn = (uint64_t)time_now_us();
    atomic_store(&w->st_corrupt, w->scan->corrupt_records);
    metric_add(m.corrupt, w->scan->corrupt_records);
    if (w->scan->nsegs == 0)
        wal__scan_free(&w->scan);

    int err = pthread_create(&w->writer_thread, NULL, writer_main, w);
    if (err) {
        rc = errbuf_set(eb, RC_INTERNAL, "wal: cannot start writer thread: %s", strerror(err));
        goto fail;
    }
    w->writer_started = true;
    pthread_mutex_lock(&w->lock);
    while (!w->writer_ready)
        pthread_cond_wait(&w->done_cv, &w->lock);
    rc = w->writer_start_rc;
    pthread_mutex_unlock(&w->lock);
    if (rc != RC_OK) {
        errbuf_set(eb, rc, "wal: %s", w->writer_start_err);
        pthread_join(w->writer_thread, NULL);
        goto fail;
    }
    if (w->o.sync_mode == WAL_SYNC_ASYNC) {
        err = pthread_create(&w->syncer_thread, NULL, syncer_main, w);
        if (err) {
            rc = errbuf_set(eb, RC_INTERNAL, "wal: cannot start sync thread: %s", strerror(err));
            pthread_mutex_lock(&w->lock);
            w->stopping = true;
            pthread_cond_signal(&w->work_cv);
            pthread_mutex_unlock(&w->lock);
            pthread_join(w->writer_thread, NULL);
            goto fail;
        }
        w->has_syncer = true;
    }
    /* Without a preparer segments simply grow by appending. */
    if (w->prealloc_bytes && pthread_create(&w->prep_thread, NULL, prep_main, w) == 0)
        w->has_prep = true;
    log_info("wal",
             "opened dir=%s sync_mode=%s segments_found=%zu max_size_bytes=%llu "
             "max_age_ms=%lld queue_size=%zu",
             w->dir, wal_sync_mode_name(w->o.sync_mode), w->scan ? w->scan->nsegs : (size_t)0,
             (unsigned long long)w->o.max_segment_bytes, (long long)w->o.max_segment_age_ms,
             w->o.queue_size);
    *out = w;
    return RC_OK;
fail:
    wal_free(w);
    return rc;
}

void wal_close(struct wal **wp)
{
    if (!wp || !*wp)
        return;
    struct wal *w = *wp;
    *wp = NULL;
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_signal(&w->work_cv);
    pthread_mutex_unlock(&w->lock);
    if (w->writer_started)
        pthread_join(w->writer_thread, NULL);
    if (w->has_prep) {
        pthread_mutex_lock(&w->lock);
        atomic_store(&w->prep_stop, true);
        pthread_cond_signal(&w->prep_cv);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->prep_thread, NULL);
    }
    if (w->has_syncer) {
        pthread_mutex_lock(&w->lock);
        w->syncer_stop = true;
        pthread_cond_signal(&w->sync_cv);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->syncer_thread, NULL);
    }
    if (w->pending)
        log_error("wal", "closed with prepared tickets never committed or aborted");
    wal_free(w);
}

bool wal_is_degraded(struct wal *w)
{
    if (!w)
        return false;
    pthread_mutex_lock(&w->lock);
    bool d = w->degraded;
    pthread_mutex_unlock(&w->lock);
    return d;
}

const struct wal_options *wal_get_options(struct wal *w)
{
    return &w->o;
}

/* ---- write path ------------------------------------------------------------------------------ */

int wal__enqueue(struct wal *w, struct witem *it)
{
    pthread_mutex_lock(&w->lock);
    if (w->writer_exited) {
        pthread_mutex_unlock(&w->lock);
        it->rc = RC_SHUTDOWN;
        snprintf(it->err, sizeof(it->err), "WAL is closed");
        it->done = true;
        if (!it->waited)
            wal__item_free(it);
        return RC_SHUTDOWN;
    }
    it->next = NULL;
    if (w->qtail)
        w->qtail->next = it;
    else
        w->qhead = it;
    w->qtail = it;
    w->queued_bytes += it->buf.len;
    pthread_cond_signal(&w->work_cv);
    bool waited = it->waited;
    pthread_mutex_unlock(&w->lock);
    return waited ? item_wait(it) : RC_OK;
}

int wal_prepare(struct wal *w, struct batch *const *batches, size_t n, struct wal_ticket **out,
                struct errbuf *eb)
{
    *out = NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (batches[i] && batches[i]->nrows)
            k++;
    if (k == 0)
        return RC_OK;
    struct witem *it = wal__item_new(w, WITEM_DATA, true);
    it->batches = k == 1 ? &it->batch1 : xmalloc(k * sizeof(*it->batches));
    for (size_t i = 0; i < n; i++)
        if (batches[i] && batches[i]->nrows)
            it->batches[it->nbatches++] = batches[i];

    int rc = RC_OK;
    pthread_mutex_lock(&w->lock);
    size_t inq = w->queued_entries + w->reserved_entries;
    if (w->stopping) {
        rc = errbuf_set(eb, RC_SHUTDOWN, "WAL is shutting down");
    } else if (w->degraded) {
        rc = errbuf_set(eb, RC_IO, "WAL unavailable after a write failure (%s); restart required",
                        w->last_error);
    } else if (inq > 0 && inq + k > w->o.queue_size) {
        rc = errbuf_set(eb, RC_BUSY,
                        "WAL queue is full (%zu records waiting, wal.queue_size=%zu); retry later",
                        inq, w->o.queue_size);
    } else if (w->o.max_total_bytes && w->segs_bytes + w->queued_bytes >= w->o.max_total_bytes) {
        rc = errbuf_set(eb, RC_BUSY,
                        "WAL holds %llu bytes, wal.max_total_size_mb allows %llu; retry later",
                        (unsigned long long)(w->segs_bytes + w->queued_bytes),
                        (unsigned long long)w->o.max_total_bytes);
    } else {
        w->reserved_entries += k;
        it->lsn0 = w->next_lsn;
        w->next_lsn += k;
        wal__pending_add(w, it);
    }
    pthread_mutex_unlock(&w->lock);
    if (rc != RC_OK) {
        if (rc == RC_BUSY) {
            atomic_fetch_add(&w->st_busy, 1);
            metric_inc(m.busy);
        }
        wal__item_free(it);
        return rc;
    }
    /* Serialisation runs here, on the request thread, outside the lock. */
    for (size_t i = 0; i < it->nbatches; i++)
        walrec_data_append(&it->buf, it->lsn0 + i, it->batches[i]);
    *out = (struct wal_ticket *)it;
    return RC_OK;
}

/* Queues a committed ticket's records for the writer. Returns RC_OK, or the
 * error (the item is then completed: err set, not queued). */
static int commit_enqueue(struct witem *it)
{
    struct wal *w = it->wal;
    /* Entries are allocated before taking the lock. */
    it->ent1 = NULL;
    it->ents = it->nbatches == 1 ? &it->ent1 : xcalloc(it->nbatches, sizeof(*it->ents));
    it->nents = it->nbatches;
    for (size_t i = 0; i < it->nbatches; i++) {
        if (!it->batches[i]->seq)
            continue; /* never admitted: nothing can report it flushed */
        struct went *e = xcalloc(1, sizeof(*e));
        e->seq = it->batches[i]->seq;
        e->lsn = it->lsn0 + i;
        it->ents[i] = e;
    }

    pthread_mutex_lock(&w->lock);
    wal__pending_remove(w, it);
    w->reserved_entries -= it->nbatches;
    if (w->degraded || w->writer_exited) {
        it->rc = w->degraded ? RC_IO : RC_SHUTDOWN;
        snprintf(it->err, sizeof(it->err), "%s",
                 w->degraded ? "WAL unavailable after a write failure; restart required"
                             : "WAL is closed");
        pthread_cond_broadcast(&w->done_cv);
        pthread_mutex_unlock(&w->lock);
        for (size_t i = 0; i < it->nents; i++) {
            xfree(it->ents[i]);
            it->ents[i] = NULL;
        }
        return it->rc;
    }
    for (size_t i = 0; i < it->nents; i++)
        if (it->ents[i])
            wal__map_insert(w, it->ents[i]);
    it->next = NULL;
    if (w->qtail)
        w->qtail->next = it;
    else
        w->qhead = it;
    w->qtail = it;
    w->queued_entries += it->nbatches;
    w->queued_bytes += it->buf.len;
    size_t depth = w->queued_entries + w->reserved_entries;
    pthread_cond_signal(&w->work_cv);
    pthread_cond_broadcast(&w->done_cv); /* flush workers waiting for this commit */
    metric_set(m.queue_depth, (int64_t)depth);
    pthread_mutex_unlock(&w->lock);
    return RC_OK;
}

int wal_commit(struct wal_ticket **tp, struct errbuf *eb)
{
    if (!tp || !*tp)
        return RC_OK;
    struct witem *it = (struct witem *)*tp;
    *tp = NULL;
    int rc = commit_enqueue(it);
    if (rc == RC_OK)
        rc = item_wait(it);
    if (rc != RC_OK)
        errbuf_set(eb, rc, "%s", it->err);
    wal__item_free(it);
    return rc;
}

void wal_commit_async(struct wal_ticket **tp, wal_done_fn done, void *ctx)
{
    struct witem *it = (struct witem *)*tp;
    *tp = NULL;
    it->done_fn = done;
    it->done_ctx = ctx;
    if (commit_enqueue(it) != RC_OK)
        item_complete(it);
}

void wal_abort(struct wal_ticket **tp)
{
    if (!tp || !*tp)
        return;
    struct witem *it = (struct witem *)*tp;
    *tp = NULL;
    struct wal *w = it->wal;
    pthread_mutex_lock(&w->lock);
    wal__pending_remove(w, it);
    w->reserved_entries -= it->nbatches;
    pthread_cond_broadcast(&w->done_cv);
    pthread_mutex_unlock(&w->lock);
    wal__item_free(it);
}

/* ---- flush hooks --------------------------------------------------------------------------------
 */

int wal_put_intent(void *ctx, const char *db, const char *measurement, const char *key,
                   int64_t hour_start_us, struct batch *const *batches, size_t n, uint64_t *slot,
                   struct errbuf *eb)
{
    struct wal *w = ctx;
    if (!w || n == 0)
        return RC_OK;
    uint64_t *lsns = xmalloc(n * sizeof(*lsns));
    size_t k = 0;
    pthread_mutex_lock(&w->lock);
    if (w->degraded || w->stopping) {
        bool log_it = !w->logged_intent_skip;
        w->logged_intent_skip = true;
        pthread_mutex_unlock(&w->lock);
        if (log_it)
            log_warn("wal", "flush intents skipped (WAL degraded or closing): rows flushed just "
                            "before a crash may be replayed twice");
        xfree(lsns);
        return RC_OK;
    }
    for (size_t i = 0; i < n; i++) {
        struct went *e = lookup_entry(w, batches[i]);
        if (e && !e->no_cover)
            lsns[k++] = e->lsn;
    }
    if (k && *slot == 0)
        *slot = w->next_lsn++;
    uint64_t s = *slot;
    pthread_mutex_unlock(&w->lock);
    if (k == 0) {
        xfree(lsns);
        return RC_OK;
    }
    struct witem *it = wal__item_new(w, WITEM_INTENT, true);
    walrec_intent_append(&it->buf, s, hour_start_us, db, measurement, key, lsns, k);
    xfree(lsns);
    int rc = wal__enqueue(w, it);
    if (rc == RC_SHUTDOWN)
        rc = RC_OK;
    else if (rc != RC_OK)
        rc = errbuf_set(eb, RC_IO, "WAL: flush intent not logged: %s", it->err);
    wal__item_free(it);
    return rc;
}

void wal_batches_flushed(void *ctx, struct batch *const *batches, size_t n)
{
    struct wal *w = ctx;
    if (!w || n == 0)
        return;
    struct went **ents = xmalloc(n * sizeof(*ents));
    uint64_t *lsns = xmalloc(n * sizeof(*lsns));
    size_t k = 0, nl = 0;
    pthread_mutex_lock(&w->lock);
    for (size_t i = 0; i < n; i++) {
        struct went *e = lookup_entry(w, batches[i]);
        if (!e)
            continue;
        wal__map_remove(w, e);
        ents[k++] = e;
        if (!e->no_cover)
            lsns[nl++] = e->lsn;
    }
    pthread_mutex_unlock(&w->lock);
    if (k == 0) {
        xfree(ents);
        xfree(lsns);
        return;
    }
    struct witem *it = wal__item_new(w, WITEM_FLUSHED, false);
    it->ents = ents;
    it->nents = k;
    if (nl)
        walrec_flushed_append(&it->buf, lsns, nl);
    xfree(lsns);
    (void)wal__enqueue(w, it); /* owned by the writer from here on */
}

/* ---- observability
 * ------------------------------------------------------------------------------- */

void wal_get_stats(struct wal *w, struct wal_stats *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&w->lock);
    if (w->active) {
        snprintf(out->current_file, sizeof(out->current_file), "%s", w->active->name);
        out->current_size_bytes = w->active->bytes;
        out->current_age_seconds = (double)(time_mono_ms() - w->active->created_mono_ms) / 1000.0;
    }
    out->pending_entries = w->queued_entries + w->reserved_entries;
    out->segments = w->nsegs;
    out->segments_bytes = w->segs_bytes;
    out->degraded = w->degraded;
    snprintf(out->last_error, sizeof(out->last_error), "%s", w->last_error);
    out->last_error_us = w->last_error_us;
    pthread_mutex_unlock(&w->lock);
    out->sync_mode = w->o.sync_mode;
    out->queue_size = w->o.queue_size;
    out->total_entries = atomic_load(&w->st_entries);
    out->total_bytes = atomic_load(&w->st_bytes);
    out->total_syncs = atomic_load(&w->st_syncs);
    out->total_sync_seconds = (double)atomic_load(&w->st_sync_ns) / 1e9;
    out->total_rotations = atomic_load(&w->st_rotations);
    out->failed_writes = atomic_load(&w->st_failed);
    out->recovered_entries = atomic_load(&w->st_recovered);
    out->corrupt_records = atomic_load(&w->st_corrupt);
    out->groups = atomic_load(&w->st_groups);
    out->rejected_busy = atomic_load(&w->st_busy);
    int64_t p = atomic_load(&w->disk_free_permille);
    out->disk_free_ratio = p < 0 ? -1.0 : (double)p / 1000.0;
}

static int cmp_file_info(const void *a, const void *b)
{
    return strcmp(((const struct wal_file_info *)a)->name, ((const struct wal_file_info *)b)->name);
}

int wal_files_list(struct wal *w, struct wal_file_info **out, size_t *n, struct errbuf *eb)
{
    *out = NULL;
    *n = 0;
    /* The active segment is preallocated: its size is what was written. */
    char active[WAL_NAME_MAX] = "";
    uint64_t active_bytes = 0;
    pthread_mutex_lock(&w->lock);
    if (w->active) {
        snprintf(active, sizeof(active), "%s", w->active->name);
        active_bytes = w->active->bytes;
    }
    pthread_mutex_unlock(&w->lock);
    DIR *d = opendir(w->dir);
    if (!d)
        return errbuf_set(eb, RC_IO, "cannot read WAL directory %s: %s", w->dir, strerror(errno));
    struct wal_file_info *v = NULL;
    size_t cnt = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        uint64_t seq;
        bool recovered;
        if (!wal__segment_name_parse(de->d_name, &seq, &recovered) ||
            strlen(de->d_name) >= WAL_NAME_MAX)
            continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, 0) != 0)
            continue; /* retired meanwhile */
        if (cnt == cap) {
            cap = cap ? cap * 2 : 16;
            v = xrealloc(v, cap * sizeof(*v));
        }
        struct wal_file_info *f = &v[cnt++];
        snprintf(f->name, sizeof(f->name), "%.*s", WAL_NAME_MAX - 1, de->d_name);
        f->size_bytes = strcmp(f->name, active) == 0 && active_bytes < (uint64_t)st.st_size
                            ? active_bytes
                            : (uint64_t)st.st_size;
        f->mtime_us = (int64_t)st.st_mtim.tv_sec * US_PER_SEC + st.st_mtim.tv_nsec / 1000;
        f->recovered = recovered;
    }
    closedir(d);
    if (cnt)
        qsort(v, cnt, sizeof(*v), cmp_file_info);
    *out = v;
    *n = cnt;
    return RC_OK;
}

int wal_cleanup_recovered(struct wal *w, int64_t max_age_ms, uint64_t *deleted,
                          uint64_t *freed_bytes, struct errbuf *eb)
{
    *deleted = *freed_bytes = 0;
    struct witem *it = wal__item_new(w, WITEM_CLEANUP, true);
    it->max_age_ms = max_age_ms < 0 ? 0 : max_age_ms;
    int rc = wal__enqueue(w, it);
    if (rc == RC_OK) {
        *deleted = it->deleted;
        *freed_bytes = it->freed_bytes;
    } else {
        errbuf_set(eb, rc, "WAL cleanup failed: %s", it->err);
    }
    wal__item_free(it);
    return rc;
}
