/*
 * api/api_wal.c — WAL endpoints (SPEC §6.4; see api_wal.h).
 *
 * Response shapes follow Arc [Py]: sizes in MB rounded to two decimals,
 * `modified` in Unix seconds (SPEC says so), other times RFC 3339 (SPEC
 * §0.2). /api/v1/wal/health always answers 200 with "healthy" true/false
 * (SPEC §6.4 lists the 200 shape); /ready is what turns 503 when the WAL is
 * degraded (the lead's api_ready reads wal_is_degraded).
 */
#include "api/api_wal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include "wal/wal.h"

#define MB (1024.0 * 1024.0)
#define RECENT_ERROR_US (INT64_C(5) * 60 * US_PER_SEC) /* SPEC §6.4: last 5 minutes */
#define HISTORY_MAX 10

struct wal *api_wal_global;

static void kv_mb(struct jsonw *w, const char *key, uint64_t bytes)
{
    jsonw_key(w, key);
    jsonw_f64_fixed(w, (double)bytes / MB, 2);
}

static bool require_wal(struct http_request *req)
{
    if (api_wal_global)
        return true;
    http_respond_error(req, 400, "WAL is not enabled");
    return false;
}

static void current_path(const struct wal_options *o, const struct wal_stats *st, char *out,
                         size_t cap)
{
    if (st->current_file[0])
        snprintf(out, cap, "%s/%s", o->dir, st->current_file);
    else
        out[0] = '\0';
}

/* The body of /stats, also nested as "stats" in /status. */
static void write_stats(struct jsonw *w, const struct wal_options *o, const struct wal_stats *st)
{
    char cur[4200];
    current_path(o, st, cur, sizeof(cur));
    jsonw_kv_str(w, "current_file", cur);
    kv_mb(w, "current_size_mb", st->current_size_bytes);
    jsonw_key(w, "current_age_seconds");
    jsonw_f64_fixed(w, st->current_age_seconds, 1);
    jsonw_kv_str(w, "sync_mode", wal_sync_mode_name(st->sync_mode));
    jsonw_kv_u64(w, "total_entries", st->total_entries);
    jsonw_kv_u64(w, "total_bytes", st->total_bytes);
    jsonw_kv_u64(w, "total_syncs", st->total_syncs);
    jsonw_key(w, "avg_sync_ms");
    jsonw_f64_fixed(
        w, st->total_syncs ? st->total_sync_seconds * 1000.0 / (double)st->total_syncs : 0, 3);
    jsonw_kv_u64(w, "total_rotations", st->total_rotations);
    jsonw_kv_u64(w, "pending_entries", st->pending_entries);
    jsonw_kv_u64(w, "failed_writes", st->failed_writes);
    jsonw_kv_u64(w, "recovered_entries", st->recovered_entries);
    /* Beyond Arc's shape: */
    jsonw_kv_u64(w, "corrupt_records", st->corrupt_records);
    jsonw_kv_u64(w, "group_commits", st->groups);
    jsonw_kv_u64(w, "rejected_busy", st->rejected_busy);
    jsonw_kv_u64(w, "queue_size", st->queue_size);
    jsonw_kv_u64(w, "segments", st->segments);
    kv_mb(w, "segments_size_mb", st->segments_bytes);
    jsonw_kv_bool(w, "degraded", st->degraded);
}

void api_wal_status(struct http_request *req)
{
    struct strbuf sb;
    struct jsonw w;
    api_json_begin(&sb, &w);
    struct wal *wal = api_wal_global;
    jsonw_kv_bool(&w, "enabled", wal != NULL);
    if (wal) {
        const struct wal_options *o = wal_get_options(wal);
        struct wal_stats st;
        wal_get_stats(wal, &st);
        char cur[4200];
        current_path(o, &st, cur, sizeof(cur));
        jsonw_key(&w, "configuration");
        jsonw_obj_begin(&w);
        jsonw_kv_str(&w, "sync_mode", wal_sync_mode_name(o->sync_mode));
        jsonw_kv_str(&w, "dir", o->dir);
        jsonw_kv_u64(&w, "max_size_mb", o->max_segment_bytes >> 20);
        jsonw_kv_i64(&w, "max_age_seconds", o->max_segment_age_ms / 1000);
        jsonw_kv_str(&w, "current_file", cur);
        jsonw_kv_u64(&w, "queue_size", o->queue_size);
        jsonw_kv_i64(&w, "async_sync_interval_ms", o->async_sync_interval_ms);
        jsonw_kv_u64(&w, "max_total_size_mb", o->max_total_bytes >> 20);
        jsonw_obj_end(&w);
        jsonw_key(&w, "stats");
        jsonw_obj_begin(&w);
        write_stats(&w, o, &st);
        jsonw_obj_end(&w);
    }
    api_json_send(req, 200, &sb, &w);
}

void api_wal_stats(struct http_request *req)
{
    if (!require_wal(req))
        return;
    struct wal_stats st;
    wal_get_stats(api_wal_global, &st);
    struct strbuf sb;
    struct jsonw w;
    api_json_begin(&sb, &w);
    write_stats(&w, wal_get_options(api_wal_global), &st);
    api_json_send(req, 200, &sb, &w);
}

static void file_entry(struct jsonw *w, const char *dir, const struct wal_file_info *f)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, f->name);
    jsonw_obj_begin(w);
    jsonw_kv_str(w, "name", f->name);
    kv_mb(w, "size_mb", f->size_bytes);
    jsonw_key(w, "modified");
    jsonw_f64_fixed(w, (double)f->mtime_us / 1e6, 3);
    jsonw_kv_str(w, "path", path);
    jsonw_obj_end(w);
}

void api_wal_files(struct http_request *req)
{
    if (!require_wal(req))
        return;
    const struct wal_options *o = wal_get_options(api_wal_global);
    struct wal_file_info *files = NULL;
    size_t n = 0;
    struct errbuf eb;
    errbuf_clear(&eb);
    if (wal_files_list(api_wal_global, &files, &n, &eb) != RC_OK) {
        http_respond_error(req, 500, eb.msg);
        return;
    }
    uint64_t total = 0;
    struct strbuf sb;
    struct jsonw w;
    api_json_begin(&sb, &w);
    for (int pass = 0; pass < 2; pass++) {
        jsonw_key(&w, pass == 0 ? "active" : "recovered");
        jsonw_arr_begin(&w);
        for (size_t i = 0; i < n; i++) {
            if (files[i].recovered != (pass == 1))
                continue;
            file_entry(&w, o->dir, &files[i]);
            total += files[i].size_bytes;
        }
        jsonw_arr_end(&w);
    }
    kv_mb(&w, "total_size_mb", total);
    jsonw_kv_str(&w, "wal_directory", o->dir);
    xfree(files);
    api_json_send(req, 200, &sb, &w);
}

void api_wal_health(struct http_request *req)
{
    struct strbuf sb;
    struct jsonw w;
    api_json_begin(&sb, &w);
    struct wal *wal = api_wal_global;
    if (!wal) {
        jsonw_kv_bool(&w, "healthy", true);
        jsonw_kv_bool(&w, "wal_enabled", false);
        jsonw_kv_str(&w, "message", "WAL is disabled (wal.enabled = false)");
        api_json_send(req, 200, &sb, &w);
        return;
    }
    const struct wal_options *o = wal_get_options(wal);
    struct wal_stats st;
    wal_get_stats(wal, &st);
    char issues[4][400], recs[4][200];
    int n = 0;
    int64_t now = time_now_us();
    if (st.degraded || (st.last_error_us && now - st.last_error_us < RECENT_ERROR_US)) {
        char when[64] = "";
        if (st.last_error_us)
            time_format_rfc3339_us(st.last_error_us, when, sizeof(when));
        snprintf(issues[n], sizeof(issues[n]),
                 "WAL write/sync failed at %s: %s; writes are refused until the server restarts",
                 when, st.last_error[0] ? st.last_error : "unknown error");
        snprintf(recs[n], sizeof(recs[n]),
                 "Check the WAL disk (free space, permissions, I/O errors in the kernel log), "
                 "then restart Arc");
        n++;
    }
    if (st.disk_free_ratio >= 0 && st.disk_free_ratio < 0.10) {
        snprintf(issues[n], sizeof(issues[n]), "Low disk space on the WAL volume: %.1f%% free",
                 st.disk_free_ratio * 100.0);
        snprintf(recs[n], sizeof(recs[n]),
                 "Free disk space, clean up recovered WAL files or move wal.dir");
        n++;
    }
    if (st.queue_size && (double)st.pending_entries > 0.8 * (double)st.queue_size) {
        snprintf(issues[n], sizeof(issues[n]), "WAL queue %.0f%% full (%llu of %zu entries)",
                 100.0 * (double)st.pending_entries / (double)st.queue_size,
                 (unsigned long long)st.pending_entries, st.queue_size);
        snprintf(recs[n], sizeof(recs[n]),
                 "The WAL disk cannot keep up: use a faster disk or raise wal.queue_size");
        n++;
    }
    double max_age_s = (double)o->max_segment_age_ms / 1000.0;
    if (st.current_file[0] && st.current_age_seconds > 2 * max_age_s) {
        snprintf(issues[n], sizeof(issues[n]),
                 "Active WAL segment is %.0f s old (wal.max_age_seconds = %.0f): it is not "
                 "rotating",
                 st.current_age_seconds, max_age_s);
        snprintf(recs[n], sizeof(recs[n]), "Check the server log for WAL rotation errors");
        n++;
    }
    jsonw_kv_bool(&w, "healthy", n == 0);
    jsonw_kv_bool(&w, "wal_enabled", true);
    jsonw_key(&w, "issues");
    jsonw_arr_begin(&w);
    for (int i = 0; i < n; i++)
        jsonw_str(&w, issues[i]);
    jsonw_arr_end(&w);
    jsonw_key(&w, "recommendations");
    jsonw_arr_begin(&w);
    for (int i = 0; i < n; i++)
        jsonw_str(&w, recs[i]);
    jsonw_arr_end(&w);
    jsonw_key(&w, "stats_summary");
    jsonw_obj_begin(&w);
    kv_mb(&w, "current_size_mb", st.current_size_bytes);
    jsonw_key(&w, "current_age_seconds");
    jsonw_f64_fixed(&w, st.current_age_seconds, 1);
    jsonw_kv_u64(&w, "total_entries", st.total_entries);
    jsonw_kv_u64(&w, "total_rotations", st.total_rotations);
    jsonw_kv_u64(&w, "failed_writes", st.failed_writes);
    jsonw_kv_bool(&w, "degraded", st.degraded);
    jsonw_obj_end(&w);
    api_json_send(req, 200, &sb, &w);
}

static int cmp_newest_first(const void *a, const void *b)
{
    const struct wal_file_info *x = a, *y = b;
    if (x->mtime_us != y->mtime_us)
        return x->mtime_us > y->mtime_us ? -1 : 1;
    return strcmp(y->name, x->name);
}

void api_wal_recovery_history(struct http_request *req)
{
    if (!require_wal(req))
        return;
    struct wal_file_info *files = NULL;
    size_t n = 0;
    struct errbuf eb;
    errbuf_clear(&eb);
    if (wal_files_list(api_wal_global, &files, &n, &eb) != RC_OK) {
        http_respond_error(req, 500, eb.msg);
        return;
    }
    /* Keep only the recovered files, newest (= most recently recovered)
     * first: the WAL sets a file's time when it renames it. */
    size_t nr = 0;
    for (size_t i = 0; i < n; i++)
        if (files[i].recovered)
            files[nr++] = files[i];
    if (nr)
        qsort(files, nr, sizeof(*files), cmp_newest_first);
    struct strbuf sb;
    struct jsonw w;
    api_json_begin(&sb, &w);
    jsonw_key(&w, "recovered_files");
    jsonw_arr_begin(&w);
    for (size_t i = 0; i < nr && i < HISTORY_MAX; i++) {
        jsonw_obj_begin(&w);
        jsonw_kv_str(&w, "name", files[i].name);
        kv_mb(&w, "size_mb", files[i].size_bytes);
        jsonw_key(&w, "recovered_at");
        jsonw_time_us(&w, files[i].mtime_us);
        jsonw_obj_end(&w);
    }
    jsonw_arr_end(&w);
    jsonw_key(&w, "last_recovery");
    if (nr)
        jsonw_time_us(&w, files[0].mtime_us);
    else
        jsonw_null(&w);
    jsonw_kv_u64(&w, "total_recovered", nr);
    xfree(files);
    api_json_send(req, 200, &sb, &w);
}

void api_wal_cleanup(struct http_request *req)
{
    if (!require_wal(req))
        return;
    const struct wal_options *o = wal_get_options(api_wal_global);
    double hours = o->recovered_retention_ms >= 0 ? (double)o->recovered_retention_ms / 3.6e6 : 24;
    const char *q = http_req_query(req, "max_age_hours");
    if (q && *q) {
        char *end = NULL;
        errno = 0;
        double v = strtod(q, &end);
        if (errno || !end || *end || !isfinite(v) || v < 0 || v > 1e7) {
            http_respond_error(req, 400, "max_age_hours must be a number >= 0");
            return;
        }
        hours = v;
    }
    uint64_t deleted = 0, freed = 0;
    struct errbuf eb;
    errbuf_clear(&eb);
    int rc = wal_cleanup_recovered(api_wal_global, (int64_t)(hours * 3.6e6), &deleted, &freed, &eb);
    if (rc != RC_OK) {
        int status = http_status_for_rc(rc);
        if (status == 503)
            http_add_header(req, "Retry-After", "1");
        http_respond_error(req, status, eb.msg);
        return;
    }
    char msg[160];
    snprintf(msg, sizeof(msg), "Cleaned up %llu old WAL files, freed %.2f MB",
             (unsigned long long)deleted, (double)freed / MB);
    struct strbuf sb;
    struct jsonw w;
    api_json_begin(&sb, &w);
    jsonw_kv_u64(&w, "deleted_count", deleted);
    kv_mb(&w, "freed_mb", freed);
    jsonw_key(&w, "max_age_hours");
    jsonw_f64(&w, hours);
    jsonw_kv_str(&w, "message", msg);
    api_json_send(req, 200, &sb, &w);
}
