/*
 * metrics/collector.c — background metrics collector with failure accounting
 * (see collector.h; SPEC §9.6, §11 R5).
 *
 * Owns: the "arc-collector" thread, one bounded sample ring per type, the
 * failure counters, and the process/host gauges it registers.
 *
 * Threads: the collector thread runs cycles; HTTP threads read status and
 * samples; collector_start/stop/free run on the main thread.
 *
 * A cycle, step by step (collector_collect_once):
 *
 *   fault hook? ──yes──► failed cycle, nothing sampled
 *      │no
 *   system ─► process ─► application ─► api      (no lock held: /proc I/O)
 *      │  each sub-collector fills its type's sample or fails; the first
 *      │  error text wins; a type is stored only if its own parts worked
 *   record(): under c->lock push samples, update counters, decide which
 *      log lines are due; after unlocking: metrics, then the log lines.
 *
 * Failure streak logging (N = warn threshold, M = unhealthy threshold):
 *   consecutive == N, 2N, 3N, ...  → one WARN each
 *   consecutive == M               → one ERROR
 *   first success after a streak   → one INFO with the streak length
 *
 * Test fault (compiled only with ARC_TEST_HOOKS): `metrics_collect_fail` in
 * ARC_TEST_FAULTS fails every cycle; `metrics_collect_fail=K` fails the first
 * K cycles only. If ARC_TEST_FAULTS_FILE names a file, that file is re-read
 * every cycle instead and the fault is active while it lists
 * `metrics_collect_fail` (so a test can switch it off at run time).
 */
#include "metrics/collector.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "metrics/metrics.h"
#include "util/procstat.h"
#include "util/condvar.h"
#include "util/faults.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

/* --- field tables ------------------------------------------------------- */

enum {
    SYS_CPU_PERCENT,
    SYS_MEMORY_PERCENT,
    SYS_MEMORY_USED_MB,
    SYS_MEMORY_AVAILABLE_MB,
    SYS_MEMORY_TOTAL_MB,
    SYS_DISK_PERCENT,
    SYS_DISK_USED_GB,
    SYS_DISK_FREE_GB,
    SYS_DISK_TOTAL_GB,
    SYS_NET_SENT,
    SYS_NET_RECV,
    SYS_LOAD1,
    SYS_LOAD5,
    SYS_LOAD15,
    SYS_PROC_CPU_PERCENT,
    SYS_PROC_RSS_BYTES,
    SYS_PROC_THREADS,
    SYS_PROC_OPEN_FILES,
    SYS_NFIELDS
};

static const struct collector_field system_fields[SYS_NFIELDS] = {
    [SYS_CPU_PERCENT] = {"cpu_percent", COLLECTOR_F_NUM},
    [SYS_MEMORY_PERCENT] = {"memory_percent", COLLECTOR_F_NUM},
    [SYS_MEMORY_USED_MB] = {"memory_used_mb", COLLECTOR_F_INT},
    [SYS_MEMORY_AVAILABLE_MB] = {"memory_available_mb", COLLECTOR_F_INT},
    [SYS_MEMORY_TOTAL_MB] = {"memory_total_mb", COLLECTOR_F_INT},
    [SYS_DISK_PERCENT] = {"disk_percent", COLLECTOR_F_NUM},
    [SYS_DISK_USED_GB] = {"disk_used_gb", COLLECTOR_F_NUM},
    [SYS_DISK_FREE_GB] = {"disk_free_gb", COLLECTOR_F_NUM},
    [SYS_DISK_TOTAL_GB] = {"disk_total_gb", COLLECTOR_F_NUM},
    [SYS_NET_SENT] = {"network_bytes_sent", COLLECTOR_F_INT},
    [SYS_NET_RECV] = {"network_bytes_recv", COLLECTOR_F_INT},
    [SYS_LOAD1] = {"load_average_1m", COLLECTOR_F_NUM},
    [SYS_LOAD5] = {"load_average_5m", COLLECTOR_F_NUM},
    [SYS_LOAD15] = {"load_average_15m", COLLECTOR_F_NUM},
    [SYS_PROC_CPU_PERCENT] = {"process_cpu_percent", COLLECTOR_F_NUM},
    [SYS_PROC_RSS_BYTES] = {"process_rss_bytes", COLLECTOR_F_INT},
    [SYS_PROC_THREADS] = {"process_threads", COLLECTOR_F_INT},
    [SYS_PROC_OPEN_FILES] = {"process_open_files", COLLECTOR_F_INT},
};

enum {
    APP_QUERY_ENGINE_STATUS,
    APP_BUFFERED_RECORDS,
    APP_BUFFERED_BYTES,
    APP_ACTIVE_QUERIES,
    APP_POOL_SIZE,
    APP_POOL_IDLE,
    APP_POOL_WAITING,
    APP_ALLOCATED_BYTES,
    APP_INGEST_RECORDS_TOTAL,
    APP_QUERY_REQUESTS_TOTAL,
    APP_UPTIME_SECONDS,
    APP_NFIELDS
};

static const struct collector_field application_fields[APP_NFIELDS] = {
    [APP_QUERY_ENGINE_STATUS] = {"query_engine_status", COLLECTOR_F_BOOL},
    [APP_BUFFERED_RECORDS] = {"buffered_records", COLLECTOR_F_INT},
    [APP_BUFFERED_BYTES] = {"buffered_bytes", COLLECTOR_F_INT},
    [APP_ACTIVE_QUERIES] = {"active_queries", COLLECTOR_F_INT},
    [APP_POOL_SIZE] = {"query_pool_size", COLLECTOR_F_INT},
    [APP_POOL_IDLE] = {"query_pool_idle", COLLECTOR_F_INT},
    [APP_POOL_WAITING] = {"query_pool_waiting", COLLECTOR_F_INT},
    [APP_ALLOCATED_BYTES] = {"allocated_bytes", COLLECTOR_F_INT},
    [APP_INGEST_RECORDS_TOTAL] = {"ingest_records_total", COLLECTOR_F_INT},
    [APP_QUERY_REQUESTS_TOTAL] = {"query_requests_total", COLLECTOR_F_INT},
    [APP_UPTIME_SECONDS] = {"uptime_seconds", COLLECTOR_F_NUM},
};

enum {
    API_REQUESTS_PER_MINUTE,
    API_AVG_RESPONSE_TIME_MS,
    API_ERROR_RATE_PERCENT,
    API_ACTIVE_REQUESTS,
    API_TOTAL_REQUESTS,
    API_SUCCESSFUL_REQUESTS,
    API_FAILED_REQUESTS,
    API_NFIELDS
};

static const struct collector_field api_fields[API_NFIELDS] = {
    [API_REQUESTS_PER_MINUTE] = {"requests_per_minute", COLLECTOR_F_NUM},
    [API_AVG_RESPONSE_TIME_MS] = {"avg_response_time_ms", COLLECTOR_F_NUM},
    [API_ERROR_RATE_PERCENT] = {"error_rate_percent", COLLECTOR_F_NUM},
    [API_ACTIVE_REQUESTS] = {"active_requests", COLLECTOR_F_INT},
    [API_TOTAL_REQUESTS] = {"total_requests", COLLECTOR_F_INT},
    [API_SUCCESSFUL_REQUESTS] = {"successful_requests", COLLECTOR_F_INT},
    [API_FAILED_REQUESTS] = {"failed_requests", COLLECTOR_F_INT},
};

_Static_assert(SYS_NFIELDS <= COLLECTOR_MAX_FIELDS, "system fields");
_Static_assert(APP_NFIELDS <= COLLECTOR_MAX_FIELDS, "application fields");
_Static_assert(API_NFIELDS <= COLLECTOR_MAX_FIELDS, "api fields");

static const char *const type_names[COLLECTOR_NTYPES] = {"system", "application", "api"};

const char *collector_type_name(enum collector_type t)
{
    return (unsigned)t < COLLECTOR_NTYPES ? type_names[t] : "unknown";
}

int collector_type_parse(const char *s)
{
    for (int i = 0; s && i < COLLECTOR_NTYPES; i++)
        if (!strcmp(s, type_names[i]))
            return i;
    return -1;
}

const struct collector_field *collector_fields(enum collector_type t, size_t *n)
{
    switch (t) {
    case COLLECTOR_SYSTEM: *n = SYS_NFIELDS; return system_fields;
    case COLLECTOR_APPLICATION: *n = APP_NFIELDS; return application_fields;
    case COLLECTOR_API: *n = API_NFIELDS; return api_fields;
    default: *n = 0; return NULL;
    }
}

int collector_field_index(enum collector_type t, const char *name)
{
    size_t n;
    const struct collector_field *f = collector_fields(t, &n);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(f[i].name, name))
            return (int)i;
    return -1;
}

/* --- state -------------------------------------------------------------- */

/* Bounded ring of samples, grown lazily up to max. While it is filling,
 * samples sit in buf[0..len) oldest first; once full (len == max) the
 * oldest is at buf[start]. */
struct ring {
    struct collector_sample *buf;
    size_t cap;   /* allocated */
    size_t max;   /* retention bound */
    size_t start; /* index of the oldest when full */
    size_t len;
};

struct collector {
    /* Immutable after collector_new. */
    int64_t interval_ms;
    int64_t retention_minutes;
    int64_t warn_threshold;
    int64_t unhealthy_threshold;
    char *data_dir;
    char *proc_root;
    char *faults_file; /* $ARC_TEST_FAULTS_FILE at creation, or NULL */
    collector_app_fn app_fn;
    void *app_ctx;
    struct metric *m_failures, *m_consecutive, *m_cycles;
    struct metric *m_proc_cpu, *m_proc_fds, *m_proc_vm, *m_proc_peak;
    struct metric *m_sys_cpu, *m_mem_total, *m_mem_avail, *m_load[3];
    struct metric *m_disk_total, *m_disk_free, *m_disk_used, *m_net_recv, *m_net_sent;

    /* Only the cycle-running thread touches these (deltas between cycles). */
    bool have_prev;
    uint64_t prev_cpu_total, prev_cpu_idle;
    uint64_t prev_proc_ticks;
    int64_t prev_mono_ns;
    int64_t prev_api_mono_ns; /* 0 = no api sample yet */
    uint64_t prev_http_total;
    uint64_t prev_lat_count;
    double prev_lat_sum;
    uint64_t fault_cycles; /* cycles the count-limited fault has failed */

    /* lock guards everything below; never held across I/O or logging. */
    pthread_mutex_t lock;
    struct ring rings[COLLECTOR_NTYPES];
    uint64_t cycles_total;
    uint64_t total_failures;
    uint64_t consecutive_failures;
    int64_t last_error_us;
    char last_error[ERRBUF_SIZE];

    /* Thread control: stop_lock guards stop; running is read anywhere. */
    pthread_mutex_t stop_lock;
    pthread_cond_t stop_cond; /* CLOCK_MONOTONIC */
    bool stop;
    bool thread_started; /* main thread only */
    pthread_t thread;
    _Atomic bool running;
};

/* --- computed process gauges (process-wide, no ctx) ---------------------- */

static _Atomic int64_t process_start_mono_ns;

static double uptime_fn(void *ctx)
{
    (void)ctx;
    return (double)(time_mono_ns() - atomic_load(&process_start_mono_ns)) / 1e9;
}

/* This process's /proc figures, or false (the gauge then reads NaN). */
static bool read_self(struct collector_process *p)
{
    struct errbuf eb;
    errbuf_clear(&eb);
    return collector_read_process(NULL, p, &eb) == RC_OK;
}

static double rss_fn(void *ctx)
{
    (void)ctx;
    struct collector_process p;
    return read_self(&p) ? (double)p.rss_bytes : NAN;
}

static double threads_fn(void *ctx)
{
    (void)ctx;
    struct collector_process p;
    return read_self(&p) ? (double)p.threads : NAN;
}

static double allocated_fn(void *ctx)
{
    (void)ctx;
    return (double)mem_allocated_bytes();
}

/* --- file readers ------------------------------------------------------- */

/* Reads a whole (small) file into buf, NUL-terminated. */
static int read_small(const char *path, char *buf, size_t cap, struct errbuf *eb)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return errbuf_set(eb, RC_IO, "reading %s: %s", path, strerror(errno));
    size_t n = fread(buf, 1, cap - 1, f);
    int err = ferror(f) ? errno : 0;
    fclose(f);
    if (err)
        return errbuf_set(eb, RC_IO, "reading %s: %s", path, strerror(err));
    buf[n] = '\0';
    return RC_OK;
}

/* Value of "Key:   123 kB" lines (/proc/meminfo, /proc/self/status). */
static bool kv_u64(const char *text, const char *key, uint64_t *out)
{
    size_t kl = strlen(key);
    for (const char *p = text; p && *p;) {
        if (!strncmp(p, key, kl) && p[kl] == ':') {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(p + kl + 1, &end, 10);
            if (errno || end == p + kl + 1)
                return false;
            *out = v;
            return true;
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return false;
}

static const char *proc_root_of(const char *proc_root)
{
    return proc_root && *proc_root ? proc_root : "/proc";
}

int collector_read_process(const char *proc_root, struct collector_process *out, struct errbuf *eb)
{
    memset(out, 0, sizeof(*out));
    const char *root = proc_root_of(proc_root);
    char path[512], buf[4096];
    int rc;

    snprintf(path, sizeof(path), "%s/self/status", root);
    if ((rc = read_small(path, buf, sizeof(buf), eb)))
        return rc;
    uint64_t rss_kb = 0, hwm_kb = 0, vm_kb = 0, threads = 0;
    if (!kv_u64(buf, "VmRSS", &rss_kb) || !kv_u64(buf, "Threads", &threads))
        return errbuf_set(eb, RC_PARSE, "parsing %s: no VmRSS/Threads", path);
    (void)kv_u64(buf, "VmHWM", &hwm_kb);
    (void)kv_u64(buf, "VmSize", &vm_kb);
    out->rss_bytes = rss_kb * 1024;
    out->peak_rss_bytes = hwm_kb * 1024;
    out->virtual_bytes = vm_kb * 1024;
    out->threads = threads;

    snprintf(path, sizeof(path), "%s/self/stat", root);
    if ((rc = read_small(path, buf, sizeof(buf), eb)))
        return rc;
    /* "pid (comm) state ..." — comm may contain spaces and ')'. utime and
     * stime are fields 14 and 15, i.e. tokens 11 and 12 after the last ')'. */
    const char *p = strrchr(buf, ')');
    unsigned long long ut = 0, st = 0;
    if (!p || sscanf(p + 1, " %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu %llu", &ut, &st) != 2)
        return errbuf_set(eb, RC_PARSE, "parsing %s: unexpected format", path);
    out->cpu_ticks = ut + st;

    snprintf(path, sizeof(path), "%s/self/fd", root);
    DIR *d = opendir(path);
    if (!d)
        return errbuf_set(eb, RC_IO, "reading %s: %s", path, strerror(errno));
    uint64_t n = 0;
    for (struct dirent *de; (de = readdir(d));)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    closedir(d);
    out->open_fds = n > 0 ? n - 1 : 0; /* minus the descriptor opendir used */
    return RC_OK;
}

/* --- sub-collectors ----------------------------------------------------- */

static int collect_system(struct collector *c, struct collector_sample *s, struct errbuf *eb)
{
    const char *root = proc_root_of(c->proc_root);
    char path[512], buf[8192];
    int rc;

    /* CPU: first line of /proc/stat; busy share since the previous cycle
     * (since boot on the first). */
    snprintf(path, sizeof(path), "%s/stat", root);
    if ((rc = read_small(path, buf, sizeof(buf), eb)))
        return rc;
    uint64_t busy, total;
    if (!procstat_cpu_times(buf, &busy, &total))
        return errbuf_set(eb, RC_PARSE, "parsing %s: no cpu line", path);
    uint64_t idle = total - busy;
    uint64_t dt = total, di = idle;
    if (c->have_prev && total >= c->prev_cpu_total && idle >= c->prev_cpu_idle) {
        dt = total - c->prev_cpu_total;
        di = idle - c->prev_cpu_idle;
    }
    double cpu = dt ? 100.0 * (double)(dt - (di < dt ? di : dt)) / (double)dt : 0.0;

    snprintf(path, sizeof(path), "%s/meminfo", root);
    if ((rc = read_small(path, buf, sizeof(buf), eb)))
        return rc;
    uint64_t mem_total_kb = 0, mem_avail_kb = 0;
    if (!kv_u64(buf, "MemTotal", &mem_total_kb) || mem_total_kb == 0)
        return errbuf_set(eb, RC_PARSE, "parsing %s: no MemTotal", path);
    if (!kv_u64(buf, "MemAvailable", &mem_avail_kb)) {
        /* Kernels before 3.14: approximate as free + page cache. */
        uint64_t fr = 0, bu = 0, ca = 0;
        (void)kv_u64(buf, "MemFree", &fr);
        (void)kv_u64(buf, "Buffers", &bu);
        (void)kv_u64(buf, "Cached", &ca);
        mem_avail_kb = fr + bu + ca;
    }
    if (mem_avail_kb > mem_total_kb)
        mem_avail_kb = mem_total_kb;

    snprintf(path, sizeof(path), "%s/loadavg", root);
    if ((rc = read_small(path, buf, sizeof(buf), eb)))
        return rc;
    double l1, l5, l15;
    if (sscanf(buf, "%lf %lf %lf", &l1, &l5, &l15) != 3)
        return errbuf_set(eb, RC_PARSE, "parsing %s: unexpected format", path);

    /* Network totals are informative only: a missing /proc/net/dev (some
     * sandboxes) leaves them 0 instead of failing the cycle. */
    uint64_t net_rx = 0, net_tx = 0;
    snprintf(path, sizeof(path), "%s/net/dev", root);
    struct errbuf neb;
    errbuf_clear(&neb);
    if (read_small(path, buf, sizeof(buf), &neb) == RC_OK) {
        for (char *line = strchr(buf, '\n'); line; line = strchr(line, '\n')) {
            line++;
            char *colon = strchr(line, ':');
            char *nl = strchr(line, '\n');
            if (!colon || (nl && colon > nl))
                continue;
            const char *name = line;
            while (*name == ' ')
                name++;
            if (!strncmp(name, "lo:", 3))
                continue;
            unsigned long long rx, tx;
            if (sscanf(colon + 1, "%llu %*u %*u %*u %*u %*u %*u %*u %llu", &rx, &tx) == 2) {
                net_rx += rx;
                net_tx += tx;
            }
        }
    }

    const char *dir = c->data_dir ? c->data_dir : ".";
    struct statvfs vfs;
    if (statvfs(dir, &vfs) != 0)
        return errbuf_set(eb, RC_IO, "disk usage of %s: %s", dir, strerror(errno));
    double bsz = (double)vfs.f_frsize;
    double disk_total = (double)vfs.f_blocks * bsz;
    double disk_avail = (double)vfs.f_bavail * bsz;
    double disk_used = ((double)vfs.f_blocks - (double)vfs.f_bfree) * bsz;
    /* As df and psutil: used / (used + available to unprivileged users). */
    double disk_pct = disk_used + disk_avail > 0 ? 100.0 * disk_used / (disk_used + disk_avail) : 0;

    struct collector_process pr;
    if ((rc = collector_read_process(c->proc_root, &pr, eb)))
        return rc;
    int64_t mono = time_mono_ns();
    double proc_cpu = 0;
    long hz = sysconf(_SC_CLK_TCK);
    if (c->have_prev && mono > c->prev_mono_ns && pr.cpu_ticks >= c->prev_proc_ticks && hz > 0)
        proc_cpu = 100.0 * ((double)(pr.cpu_ticks - c->prev_proc_ticks) / (double)hz) /
                   ((double)(mono - c->prev_mono_ns) / 1e9);

    c->prev_cpu_total = total;
    c->prev_cpu_idle = idle;
    c->prev_proc_ticks = pr.cpu_ticks;
    c->prev_mono_ns = mono;
    c->have_prev = true;

    const double mib = 1024.0 * 1024.0, gib = 1024.0 * mib;
    double mem_total = (double)mem_total_kb * 1024.0, mem_avail = (double)mem_avail_kb * 1024.0;
    s->v[SYS_CPU_PERCENT] = round(cpu * 10) / 10;
    s->v[SYS_MEMORY_PERCENT] = round(1000.0 * (mem_total - mem_avail) / mem_total) / 10;
    s->v[SYS_MEMORY_USED_MB] = floor((mem_total - mem_avail) / mib);
    s->v[SYS_MEMORY_AVAILABLE_MB] = floor(mem_avail / mib);
    s->v[SYS_MEMORY_TOTAL_MB] = floor(mem_total / mib);
    s->v[SYS_DISK_PERCENT] = round(disk_pct * 10) / 10;
    s->v[SYS_DISK_USED_GB] = round(disk_used / gib * 100) / 100;
    s->v[SYS_DISK_FREE_GB] = round(disk_avail / gib * 100) / 100;
    s->v[SYS_DISK_TOTAL_GB] = round(disk_total / gib * 100) / 100;
    s->v[SYS_NET_SENT] = (double)net_tx;
    s->v[SYS_NET_RECV] = (double)net_rx;
    s->v[SYS_LOAD1] = l1;
    s->v[SYS_LOAD5] = l5;
    s->v[SYS_LOAD15] = l15;
    s->v[SYS_PROC_CPU_PERCENT] = round(proc_cpu * 10) / 10;
    s->v[SYS_PROC_RSS_BYTES] = (double)pr.rss_bytes;
    s->v[SYS_PROC_THREADS] = (double)pr.threads;
    s->v[SYS_PROC_OPEN_FILES] = (double)pr.open_fds;

    metric_set_f64(c->m_proc_cpu, s->v[SYS_PROC_CPU_PERCENT]);
    metric_set(c->m_proc_fds, (int64_t)pr.open_fds);
    metric_set(c->m_proc_vm, (int64_t)pr.virtual_bytes);
    metric_set(c->m_proc_peak, (int64_t)pr.peak_rss_bytes);
    metric_set_f64(c->m_sys_cpu, s->v[SYS_CPU_PERCENT]);
    metric_set(c->m_mem_total, (int64_t)(mem_total_kb * 1024));
    metric_set(c->m_mem_avail, (int64_t)(mem_avail_kb * 1024));
    metric_set_f64(c->m_load[0], l1);
    metric_set_f64(c->m_load[1], l5);
    metric_set_f64(c->m_load[2], l15);
    metric_set(c->m_disk_total, (int64_t)disk_total);
    metric_set(c->m_disk_free, (int64_t)disk_avail);
    metric_set(c->m_disk_used, (int64_t)disk_used);
    metric_set(c->m_net_recv, (int64_t)net_rx);
    metric_set(c->m_net_sent, (int64_t)net_tx);
    return RC_OK;
}

static int collect_application(struct collector *c, struct collector_sample *s,
                               struct collector_app_stats *as, struct errbuf *eb)
{
    memset(as, 0, sizeof(*as));
    if (c->app_fn) {
        int rc = c->app_fn(c->app_ctx, as, eb);
        if (rc != RC_OK) {
            if (!eb->msg[0])
                errbuf_set(eb, rc, "application metrics: %s", rc_name(rc));
            return rc;
        }
    }
    s->v[APP_QUERY_ENGINE_STATUS] = as->query_engine_ok ? 1 : 0;
    s->v[APP_BUFFERED_RECORDS] = metrics_family_total("arc_buffer_records_buffered");
    s->v[APP_BUFFERED_BYTES] = metrics_family_total("arc_buffer_bytes");
    s->v[APP_ACTIVE_QUERIES] = (double)as->active_queries;
    s->v[APP_POOL_SIZE] = (double)as->query_pool_size;
    s->v[APP_POOL_IDLE] = (double)as->query_pool_idle;
    s->v[APP_POOL_WAITING] = (double)as->query_pool_waiting;
    s->v[APP_ALLOCATED_BYTES] = (double)mem_allocated_bytes();
    s->v[APP_INGEST_RECORDS_TOTAL] = metrics_family_total("arc_ingest_records_total");
    s->v[APP_QUERY_REQUESTS_TOTAL] = metrics_family_total("arc_query_requests_total");
    s->v[APP_UPTIME_SECONDS] = round(uptime_fn(NULL) * 10) / 10;
    return RC_OK;
}

/* Rates since the previous api sample: requests per minute and the mean
 * latency of the requests answered meanwhile (0 if none; over all requests
 * on the first sample); error rate over all requests. */
static void collect_api(struct collector *c, struct collector_sample *s,
                        const struct collector_app_stats *as, int64_t mono_ns)
{
    uint64_t total = (uint64_t)metrics_family_total("arc_http_requests_total");
    uint64_t ok = (uint64_t)metrics_family_total("arc_http_requests_success_total");
    uint64_t err = (uint64_t)metrics_family_total("arc_http_requests_error_total");
    uint64_t lc = 0;
    double ls = 0;
    (void)metrics_histogram_totals("arc_http_latency_seconds", &lc, &ls);
    double rpm = 0, avg_ms = 0;
    if (c->prev_api_mono_ns) {
        double minutes = (double)(mono_ns - c->prev_api_mono_ns) / 60e9;
        if (total >= c->prev_http_total && minutes > 0)
            rpm = (double)(total - c->prev_http_total) / minutes;
        if (lc > c->prev_lat_count)
            avg_ms = (ls - c->prev_lat_sum) * 1000.0 / (double)(lc - c->prev_lat_count);
    } else if (lc) {
        avg_ms = ls * 1000.0 / (double)lc;
    }
    c->prev_api_mono_ns = mono_ns;
    c->prev_http_total = total;
    c->prev_lat_count = lc;
    c->prev_lat_sum = ls;
    s->v[API_REQUESTS_PER_MINUTE] = round(rpm * 10) / 10;
    s->v[API_AVG_RESPONSE_TIME_MS] = round(avg_ms * 1000) / 1000;
    s->v[API_ERROR_RATE_PERCENT] = total ? round(10000.0 * (double)err / (double)total) / 100 : 0;
    s->v[API_ACTIVE_REQUESTS] = (double)as->active_requests;
    s->v[API_TOTAL_REQUESTS] = (double)total;
    s->v[API_SUCCESSFUL_REQUESTS] = (double)ok;
    s->v[API_FAILED_REQUESTS] = (double)err;
}

/* --- fault hook --------------------------------------------------------- */

#ifdef ARC_TEST_HOOKS
/* True if the comma/space/newline separated list in text names
 * metrics_collect_fail (not "=0", "=false" or "=off"). */
static bool list_has_fault(const char *text)
{
    static const char name[] = "metrics_collect_fail";
    const size_t nl = sizeof(name) - 1;
    for (const char *p = text; *p;) {
        p += strspn(p, ", \t\r\n");
        size_t len = strcspn(p, ", \t\r\n");
        if (len >= nl && !strncmp(p, name, nl) && (len == nl || p[nl] == '=')) {
            if (len == nl)
                return true;
            const char *v = p + nl + 1;
            size_t vl = len - nl - 1;
            bool off = (vl == 1 && *v == '0') || (vl == 5 && !strncasecmp(v, "false", 5)) ||
                       (vl == 3 && !strncasecmp(v, "off", 3));
            return !off;
        }
        p += len;
    }
    return false;
}
#endif

static bool fault_active(struct collector *c)
{
#ifdef ARC_TEST_HOOKS
    if (c->faults_file) {
        char buf[4096];
        struct errbuf eb;
        errbuf_clear(&eb);
        if (read_small(c->faults_file, buf, sizeof(buf), &eb) != RC_OK)
            return false; /* no file = no fault */
        return list_has_fault(buf);
    }
    if (!faults_enabled("metrics_collect_fail"))
        return false;
    long limit = faults_value("metrics_collect_fail", 0);
    if (limit <= 0)
        return true;
    if (c->fault_cycles >= (uint64_t)limit)
        return false;
    c->fault_cycles++;
    return true;
#else
    (void)c;
    return false;
#endif
}

/* --- rings -------------------------------------------------------------- */

static void ring_push(struct ring *r, const struct collector_sample *s)
{
    if (r->len < r->max) {
        if (r->len == r->cap) {
            size_t ncap = r->cap ? r->cap * 2 : 16;
            if (ncap > r->max)
                ncap = r->max;
            r->buf = xrealloc(r->buf, ncap * sizeof(*r->buf));
            r->cap = ncap;
        }
        r->buf[r->len++] = *s;
        return;
    }
    r->buf[r->start] = *s;
    r->start = (r->start + 1) % r->max;
}

static const struct collector_sample *ring_at(const struct ring *r, size_t i)
{
    return &r->buf[(r->start + i) % (r->len ? r->len : 1)];
}

/* --- cycle -------------------------------------------------------------- */

/* Log lines a cycle's outcome calls for, emitted after c->lock is released. */
struct cycle_logs {
    bool warn, error, recovered;
    uint64_t consecutive, total, streak;
    char err[ERRBUF_SIZE];
};

static void record(struct collector *c, int64_t now_us, int rc, const char *err,
                   const struct collector_sample *smp, const bool *have)
{
    struct cycle_logs lg;
    memset(&lg, 0, sizeof(lg));
    pthread_mutex_lock(&c->lock);
    c->cycles_total++;
    for (int t = 0; t < COLLECTOR_NTYPES; t++)
        if (have[t])
            ring_push(&c->rings[t], &smp[t]);
    if (rc != RC_OK) {
        c->total_failures++;
        c->consecutive_failures++;
        c->last_error_us = now_us;
        snprintf(c->last_error, sizeof(c->last_error), "%s", err && *err ? err : rc_name(rc));
        uint64_t n = c->consecutive_failures;
        uint64_t w = (uint64_t)c->warn_threshold;
        lg.warn = n >= w && (n - w) % w == 0;
        lg.error = n == (uint64_t)c->unhealthy_threshold;
        lg.consecutive = n;
        lg.total = c->total_failures;
        snprintf(lg.err, sizeof(lg.err), "%s", c->last_error);
    } else if (c->consecutive_failures) {
        lg.recovered = true;
        lg.streak = c->consecutive_failures;
        lg.total = c->total_failures;
        c->consecutive_failures = 0;
    }
    uint64_t consecutive = c->consecutive_failures;
    pthread_mutex_unlock(&c->lock);

    metric_inc(c->m_cycles);
    if (rc != RC_OK)
        metric_inc(c->m_failures);
    metric_set(c->m_consecutive, (int64_t)consecutive);

    if (rc != RC_OK)
        log_debug("metrics", "collection cycle failed consecutive_failures=%llu error=%s",
                  (unsigned long long)lg.consecutive, lg.err);
    if (lg.warn)
        log_warn("metrics",
                 "metrics collection failed %llu times in a row consecutive_failures=%llu "
                 "total_failures=%llu last_error=%s",
                 (unsigned long long)lg.consecutive, (unsigned long long)lg.consecutive,
                 (unsigned long long)lg.total, lg.err);
    if (lg.error)
        log_error("metrics",
                  "metrics collection unhealthy: failed %llu times in a row "
                  "consecutive_failures=%llu total_failures=%llu last_error=%s",
                  (unsigned long long)lg.consecutive, (unsigned long long)lg.consecutive,
                  (unsigned long long)lg.total, lg.err);
    if (lg.recovered)
        log_info("metrics",
                 "metrics collection recovered after %llu consecutive failures "
                 "streak=%llu total_failures=%llu",
                 (unsigned long long)lg.streak, (unsigned long long)lg.streak,
                 (unsigned long long)lg.total);
}

int collector_collect_once(struct collector *c)
{
    struct errbuf eb;
    errbuf_clear(&eb);
    int64_t now_us = time_now_us();
    struct collector_sample smp[COLLECTOR_NTYPES];
    bool have[COLLECTOR_NTYPES] = {false, false, false};
    memset(smp, 0, sizeof(smp));
    for (int t = 0; t < COLLECTOR_NTYPES; t++)
        smp[t].ts_us = now_us;
    int rc = RC_OK;

    if (fault_active(c)) {
        rc = errbuf_set(&eb, RC_INTERNAL, "fault injection: metrics_collect_fail");
    } else {
        int r = collect_system(c, &smp[COLLECTOR_SYSTEM], &eb);
        have[COLLECTOR_SYSTEM] = r == RC_OK;
        if (r != RC_OK && rc == RC_OK)
            rc = r;
        struct collector_app_stats as;
        r = collect_application(c, &smp[COLLECTOR_APPLICATION], &as, &eb);
        have[COLLECTOR_APPLICATION] = r == RC_OK;
        if (r != RC_OK && rc == RC_OK)
            rc = r;
        collect_api(c, &smp[COLLECTOR_API], &as, time_mono_ns());
        have[COLLECTOR_API] = true;
    }
    record(c, now_us, rc, eb.msg, smp, have);
    return rc;
}

/* --- thread ------------------------------------------------------------- */

static void *thread_main(void *arg)
{
    struct collector *c = arg;
    pthread_setname_np(pthread_self(), "arc-collector");
    int64_t next_ns = time_mono_ns();
    pthread_mutex_lock(&c->stop_lock);
    while (!c->stop) {
        pthread_mutex_unlock(&c->stop_lock);
        (void)collector_collect_once(c);
        int64_t now = time_mono_ns();
        next_ns += c->interval_ms * 1000000;
        if (next_ns <= now) /* overran: keep the interval from now on */
            next_ns = now + c->interval_ms * 1000000;
        struct timespec ts = {.tv_sec = (time_t)(next_ns / 1000000000),
                              .tv_nsec = (long)(next_ns % 1000000000)};
        pthread_mutex_lock(&c->stop_lock);
        while (!c->stop) {
            int r = pthread_cond_timedwait(&c->stop_cond, &c->stop_lock, &ts);
            if (r == ETIMEDOUT)
                break;
        }
    }
    pthread_mutex_unlock(&c->stop_lock);
    return NULL;
}

/* --- lifecycle ---------------------------------------------------------- */

static void register_metrics(struct collector *c)
{
    c->m_failures = metrics_counter("arc_metrics_collection_failures_total",
                                    "Metrics collection cycles that failed", NULL);
    c->m_consecutive = metrics_gauge("arc_metrics_collection_consecutive_failures",
                                     "Metrics collection cycles failed in a row", NULL);
    c->m_cycles = metrics_counter("arc_metrics_collection_cycles_total",
                                  "Metrics collection cycles run", NULL);
    c->m_proc_cpu = metrics_gauge("arc_process_cpu_percent",
                                  "Process CPU use over the last collection interval, percent of "
                                  "one core",
                                  NULL);
    c->m_proc_fds = metrics_gauge("arc_process_open_fds", "Open file descriptors", NULL);
    c->m_proc_vm =
        metrics_gauge("arc_process_virtual_memory_bytes", "Process virtual memory size", NULL);
    c->m_proc_peak = metrics_gauge("arc_process_peak_rss_bytes", "Peak resident set size", NULL);
    c->m_sys_cpu = metrics_gauge("arc_system_cpu_percent",
                                 "Host CPU busy percent over the last collection interval", NULL);
    c->m_mem_total = metrics_gauge("arc_system_memory_total_bytes", "Host memory", NULL);
    c->m_mem_avail =
        metrics_gauge("arc_system_memory_available_bytes", "Host memory available", NULL);
    static const char *const periods[3] = {"period=\"1m\"", "period=\"5m\"", "period=\"15m\""};
    for (int i = 0; i < 3; i++)
        c->m_load[i] = metrics_gauge("arc_system_load_average", "Host load average", periods[i]);
    c->m_disk_total =
        metrics_gauge("arc_disk_total_bytes", "Size of the file system holding the data", NULL);
    c->m_disk_free = metrics_gauge("arc_disk_free_bytes",
                                   "Bytes available to Arc on the data file system", NULL);
    c->m_disk_used =
        metrics_gauge("arc_disk_used_bytes", "Bytes used on the data file system", NULL);
    c->m_net_recv = metrics_gauge("arc_system_network_receive_bytes",
                                  "Bytes received by non-loopback interfaces since boot", NULL);
    c->m_net_sent = metrics_gauge("arc_system_network_transmit_bytes",
                                  "Bytes sent by non-loopback interfaces since boot", NULL);
    (void)metrics_gauge_fn("arc_uptime_seconds", "Seconds since start", NULL, uptime_fn, NULL);
    (void)metrics_gauge_fn("arc_memory_rss_bytes", "Resident set size of the process", NULL, rss_fn,
                           NULL);
    (void)metrics_gauge_fn("arc_threads", "Threads of the process", NULL, threads_fn, NULL);
    (void)metrics_gauge_fn("arc_memory_allocated_bytes", "Bytes allocated by Arc itself (util/mem)",
                           NULL, allocated_fn, NULL);
}

int collector_new(const struct collector_options *o, struct collector **out, struct errbuf *eb)
{
    if (o->interval_ms < 1)
        return errbuf_set(eb, RC_INVALID, "collector: interval must be >= 1 ms");
    if (o->retention_minutes < 1)
        return errbuf_set(eb, RC_INVALID, "collector: retention_minutes must be >= 1");
    if (o->failure_warn_threshold < 1 || o->failure_unhealthy_threshold < 1)
        return errbuf_set(eb, RC_INVALID, "collector: failure thresholds must be >= 1");

    int64_t zero = 0;
    atomic_compare_exchange_strong(&process_start_mono_ns, &zero, time_mono_ns());

    struct collector *c = xcalloc(1, sizeof(*c));
    c->interval_ms = o->interval_ms;
    c->retention_minutes = o->retention_minutes;
    c->warn_threshold = o->failure_warn_threshold;
    c->unhealthy_threshold = o->failure_unhealthy_threshold;
    c->data_dir = o->data_dir ? xstrdup(o->data_dir) : NULL;
    c->proc_root = o->proc_root ? xstrdup(o->proc_root) : NULL;
#ifdef ARC_TEST_HOOKS
    const char *ff = getenv("ARC_TEST_FAULTS_FILE");
    c->faults_file = ff && *ff ? xstrdup(ff) : NULL;
#endif
    c->app_fn = o->app_fn;
    c->app_ctx = o->app_ctx;

    /* Keeping more than a day is pointless: the timeseries endpoint never
     * asks for more than 1440 minutes. */
    int64_t keep_min = o->retention_minutes < 1440 ? o->retention_minutes : 1440;
    int64_t max = (keep_min * 60000 + o->interval_ms - 1) / o->interval_ms;
    if (max < 1)
        max = 1;
    for (int t = 0; t < COLLECTOR_NTYPES; t++)
        c->rings[t].max = (size_t)max;

    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->stop_lock, NULL);
    cond_init_monotonic(&c->stop_cond);

    register_metrics(c);
    *out = c;
    return RC_OK;
}

int collector_start(struct collector *c, struct errbuf *eb)
{
    if (c->thread_started)
        return errbuf_set(eb, RC_INVALID, "collector already running");
    pthread_mutex_lock(&c->stop_lock);
    c->stop = false;
    pthread_mutex_unlock(&c->stop_lock);
    atomic_store(&c->running, true);
    int e = pthread_create(&c->thread, NULL, thread_main, c);
    if (e != 0) {
        atomic_store(&c->running, false);
        return errbuf_set(eb, RC_INTERNAL, "collector: cannot start thread: %s", strerror(e));
    }
    c->thread_started = true;
    log_info("metrics",
             "collector started interval_ms=%lld retention_minutes=%lld "
             "warn_threshold=%lld unhealthy_threshold=%lld",
             (long long)c->interval_ms, (long long)c->retention_minutes,
             (long long)c->warn_threshold, (long long)c->unhealthy_threshold);
    return RC_OK;
}

void collector_stop(struct collector *c)
{
    if (!c || !c->thread_started)
        return;
    pthread_mutex_lock(&c->stop_lock);
    c->stop = true;
    pthread_cond_signal(&c->stop_cond);
    pthread_mutex_unlock(&c->stop_lock);
    pthread_join(c->thread, NULL);
    c->thread_started = false;
    atomic_store(&c->running, false);
}

void collector_free(struct collector **cp)
{
    if (!cp || !*cp)
        return;
    struct collector *c = *cp;
    collector_stop(c);
    for (int t = 0; t < COLLECTOR_NTYPES; t++)
        xfree(c->rings[t].buf);
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->stop_lock);
    pthread_cond_destroy(&c->stop_cond);
    xfree(c->data_dir);
    xfree(c->proc_root);
    xfree(c->faults_file);
    xfree(c);
    *cp = NULL;
}

/* --- readers ------------------------------------------------------------ */

void collector_get_status(struct collector *c, struct collector_status *out)
{
    memset(out, 0, sizeof(*out));
    out->running = atomic_load(&c->running);
    out->interval_ms = c->interval_ms;
    out->retention_minutes = c->retention_minutes;
    out->warn_threshold = c->warn_threshold;
    out->unhealthy_threshold = c->unhealthy_threshold;
    pthread_mutex_lock(&c->lock);
    out->cycles_total = c->cycles_total;
    out->total_failures = c->total_failures;
    out->consecutive_failures = c->consecutive_failures;
    out->samples_collected = c->rings[COLLECTOR_SYSTEM].len;
    out->last_error_us = c->last_error_us;
    snprintf(out->last_error, sizeof(out->last_error), "%s", c->last_error);
    pthread_mutex_unlock(&c->lock);
    out->healthy = out->running && out->consecutive_failures < (uint64_t)out->unhealthy_threshold;
}

const char *collector_component_state(struct collector *c)
{
    if (!c)
        return "disabled";
    struct collector_status st;
    collector_get_status(c, &st);
    int64_t lim =
        st.warn_threshold < st.unhealthy_threshold ? st.warn_threshold : st.unhealthy_threshold;
    if (!st.running || st.consecutive_failures >= (uint64_t)lim)
        return "degraded";
    return "ok";
}

size_t collector_samples(struct collector *c, enum collector_type t, int64_t since_us,
                         struct collector_sample **out)
{
    *out = NULL;
    if ((unsigned)t >= COLLECTOR_NTYPES)
        return 0;
    pthread_mutex_lock(&c->lock);
    const struct ring *r = &c->rings[t];
    size_t first = r->len;
    /* Samples are in time order: find the first one in range. */
    for (size_t i = 0; i < r->len; i++)
        if (ring_at(r, i)->ts_us >= since_us) {
            first = i;
            break;
        }
    size_t n = r->len - first;
    if (n) {
        *out = xmalloc(n * sizeof(**out));
        for (size_t i = 0; i < n; i++)
            (*out)[i] = *ring_at(r, first + i);
    }
    pthread_mutex_unlock(&c->lock);
    return n;
}

bool collector_latest(struct collector *c, enum collector_type t, struct collector_sample *out)
{
    memset(out, 0, sizeof(*out));
    if ((unsigned)t >= COLLECTOR_NTYPES)
        return false;
    pthread_mutex_lock(&c->lock);
    const struct ring *r = &c->rings[t];
    bool have = r->len > 0;
    if (have)
        *out = *ring_at(r, r->len - 1);
    pthread_mutex_unlock(&c->lock);
    return have;
}
