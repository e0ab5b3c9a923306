/*
 * jobs/compaction_swap.c — the crash-safe part of compaction (SPEC §7.2):
 * manifests, deleting retired inputs, and start-up recovery.
 *
 * A manifest is a small text file in <temp_dir>/manifests, written before
 * the output is put into storage and removed after the inputs are deleted:
 *
 *   arc-compaction-manifest 1
 *   database <db>
 *   measurement <measurement>
 *   tier hourly|daily
 *   output <key>
 *   output_rows <n>
 *   output_min_us <n>
 *   output_max_us <n>
 *   output_bytes <n>
 *   input <key>            (one line per input)
 *   end
 *
 * It is written to a '.'-prefixed temporary name, fsynced, renamed and the
 * directory fsynced, so it is either complete or absent. Recovery decides
 * by the output object and the catalog:
 *
 *   output in storage            → roll forward: register the output if the
 *                                  crash came before catalog_files_add,
 *                                  forget and delete the inputs;
 *   no output, inputs in catalog → roll back: nothing became visible, the
 *                                  inputs stay, the manifest goes;
 *   no output, no input listed   → the swap had completed and the output
 *                                  was later removed (retention) or
 *                                  rewritten (delete) during the grace
 *                                  period: delete the inputs, so the
 *                                  removed rows cannot come back.
 *
 * The output is put with NOREPLACE under a fresh name after the manifest
 * exists, so "output exists" means the merge completed. The catalog is made to agree (register the
 * output if a crash came before catalog_files_add, forget the inputs); catalog_open's "added but
 * unpublished counts as visible" rule is harmless here because recovery runs right after it, before
 * reconciliation and before queries.
 *
 * Threads: compaction workers / the manager thread (delete, manifests);
 * recovery runs once on the main thread at start-up.
 */
#include "jobs/compaction_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "query/qcache.h"
#include "storage/storage.h"
#include "util/faults.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define MANIFEST_MAGIC "arc-compaction-manifest 1"
#define MANIFEST_MAX_BYTES (64u << 20)

void compaction__crash_point(const char *name)
{
    if (faults_enabled(name)) {
        log_error("compaction", "test hook %s: killing the process", name);
        raise(SIGKILL);
    }
}

/* ---- directories ------------------------------------------------------------ */

static int mkdir_p(const char *path, struct errbuf *eb)
{
    char buf[1024];
    int n = snprintf(buf, sizeof(buf), "%s", path);
    if (n <= 0 || (size_t)n >= sizeof(buf))
        return errbuf_set(eb, RC_INVALID, "compaction: path too long %.200s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return errbuf_set(eb, RC_IO, "compaction: mkdir %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return errbuf_set(eb, RC_IO, "compaction: mkdir %s: %s", buf, strerror(errno));
    return RC_OK;
}

static void fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        if (fsync(fd) != 0)
            log_warn("compaction", "fsync dir=%s err=%s", dir, strerror(errno));
        close(fd);
    }
}

void compaction__remove_empty_dirs(struct storage *st, const char *key, int levels)
{
    const char *root = storage_local_root(st);
    if (!root || !key)
        return;
    char path[2048];
    int n = snprintf(path, sizeof(path), "%s/%s", root, key);
    if (n <= 0 || (size_t)n >= sizeof(path))
        return;
    size_t root_len = strlen(root);
    for (int i = 0; i < levels; i++) {
        char *slash = strrchr(path, '/');
        if (!slash || (size_t)(slash - path) <= root_len)
            return;
        *slash = '\0';
        /* Never the measurement directory: keep at least db/m/YYYY. */
        size_t comps = 0;
        for (const char *p = path + root_len + 1; *p; p++)
            comps += *p == '/';
        if (comps < 2)
            return;
        if (rmdir(path) != 0)
            return; /* not empty (or gone): stop climbing */
        log_debug("compaction", "removed empty directory path=%s", path);
    }
}

/* ---- manifests ---------------------------------------------------------------- */

static _Atomic uint64_t manifest_seq;

int compaction__manifest_write(const char *dir, struct cmanifest *m, struct errbuf *eb)
{
    int rc = mkdir_p(dir, eb);
    if (rc != RC_OK)
        return rc;
    struct strbuf sb;
    strbuf_init(&sb, 0);
    (void)strbuf_printf(&sb,
                        MANIFEST_MAGIC "\ndatabase %s\nmeasurement %s\ntier %s\noutput %s\n"
                                       "output_rows %lld\noutput_min_us %lld\noutput_max_us %lld\n"
                                       "output_bytes %llu\n",
                        m->db, m->measurement, compaction_tier_name(m->tier), m->output_key,
                        (long long)m->output_rows, (long long)m->output_min_us,
                        (long long)m->output_max_us, (unsigned long long)m->output_bytes);
    for (size_t i = 0; i < m->n_inputs; i++)
        (void)strbuf_printf(&sb, "input %s\n", m->inputs[i]);
    (void)strbuf_puts(&sb, "end\n");

    uint64_t seq = atomic_fetch_add(&manifest_seq, 1);
    long long stamp = (long long)(time_now_us());
    char tmp[1200];
    snprintf(tmp, sizeof(tmp), "%s/.m-%lld-%d-%llu.tmp", dir, stamp, (int)getpid(),
             (unsigned long long)seq);
    snprintf(m->path, sizeof(m->path), "%s/m-%lld-%d-%llu.manifest", dir, stamp, (int)getpid(),
             (unsigned long long)seq);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = errbuf_set(eb, RC_IO, "compaction: create %s: %s", tmp, strerror(errno));
        goto out;
    }
    size_t off = 0;
    while (off < sb.len) {
        ssize_t w = write(fd, sb.data + off, sb.len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = errbuf_set(eb, RC_IO, "compaction: write %s: %s", tmp, strerror(errno));
            break;
        }
        off += (size_t)w;
    }
    if (rc == RC_OK && fsync(fd) != 0)
        rc = errbuf_set(eb, RC_IO, "compaction: fsync %s: %s", tmp, strerror(errno));
    close(fd);
    if (rc == RC_OK && rename(tmp, m->path) != 0)
        rc = errbuf_set(eb, RC_IO, "compaction: rename %s: %s", tmp, strerror(errno));
    if (rc != RC_OK) {
        unlink(tmp);
        m->path[0] = '\0';
        goto out;
    }
    fsync_dir(dir);
out:
    strbuf_cleanup(&sb);
    return rc;
}

void compaction__manifest_free(struct cmanifest *m)
{
    if (!m)
        return;
    xfree(m->output_key);
    for (size_t i = 0; i < m->n_inputs; i++)
        xfree(m->inputs[i]);
    xfree(m->inputs);
    m->output_key = NULL;
    m->inputs = NULL;
    m->n_inputs = 0;
}

void compaction__manifest_remove(const struct cmanifest *m)
{
    if (!m->path[0])
        return;
    if (unlink(m->path) != 0 && errno != ENOENT) {
        log_warn("compaction", "cannot remove manifest path=%s err=%s", m->path, strerror(errno));
        return;
    }
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s", m->path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        fsync_dir(dir);
    }
}

static bool parse_i64(const char *s, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return false;
    *out = v;
    return true;
}

int compaction__manifest_read(const char *path, struct cmanifest *m, struct errbuf *eb)
{
    memset(m, 0, sizeof(*m));
    FILE *f = fopen(path, "re");
    if (!f)
        return errbuf_set(eb, RC_IO, "compaction: open %s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0, total = 0, incap = 0;
    ssize_t len;
    int rc = RC_OK;
    bool magic = false, end = false, tier_ok = false;
    while ((len = getline(&line, &cap, f)) >= 0) {
        total += (size_t)len;
        if (total > MANIFEST_MAX_BYTES) {
            rc = errbuf_set(eb, RC_LIMIT, "compaction: manifest too large %s", path);
            break;
        }
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = '\0';
        if (!magic) {
            if (strcmp(line, MANIFEST_MAGIC) != 0) {
                rc = errbuf_set(eb, RC_PARSE, "compaction: %s is not a manifest", path);
                break;
            }
            magic = true;
            continue;
        }
        if (strcmp(line, "end") == 0) {
            end = true;
            break;
        }
        char *sp = strchr(line, ' ');
        if (!sp) {
            rc = errbuf_set(eb, RC_PARSE, "compaction: bad manifest line in %s", path);
            break;
        }
        *sp = '\0';
        const char *k = line, *v = sp + 1;
        int64_t num = 0;
        if (!strcmp(k, "database") && strlen(v) <= DB_NAME_MAX)
            snprintf(m->db, sizeof(m->db), "%s", v);
        else if (!strcmp(k, "measurement") && strlen(v) <= MEASUREMENT_NAME_MAX)
            snprintf(m->measurement, sizeof(m->measurement), "%s", v);
        else if (!strcmp(k, "tier") && (!strcmp(v, "hourly") || !strcmp(v, "daily"))) {
            m->tier = !strcmp(v, "daily") ? COMPACTION_DAILY : COMPACTION_HOURLY;
            tier_ok = true;
        } else if (!strcmp(k, "output") && !m->output_key)
            m->output_key = xstrdup(v);
        else if (!strcmp(k, "output_rows") && parse_i64(v, &num))
            m->output_rows = num;
        else if (!strcmp(k, "output_min_us") && parse_i64(v, &num))
            m->output_min_us = num;
        else if (!strcmp(k, "output_max_us") && parse_i64(v, &num))
            m->output_max_us = num;
        else if (!strcmp(k, "output_bytes") && parse_i64(v, &num))
            m->output_bytes = (uint64_t)num;
        else if (!strcmp(k, "input")) {
            if (m->n_inputs == incap) {
                incap = incap ? incap * 2 : 32;
                m->inputs = xrealloc(m->inputs, incap * sizeof(*m->inputs));
            }
            m->inputs[m->n_inputs++] = xstrdup(v);
        } else {
            rc = errbuf_set(eb, RC_PARSE, "compaction: bad manifest field %s in %s", k, path);
            break;
        }
    }
    free(line); /* banned-ok: getline allocates with libc malloc */
    fclose(f);
    if (rc == RC_OK && (!end || !tier_ok || !m->output_key || !m->db[0] || !m->measurement[0] ||
                        !storage_key_is_valid(m->output_key)))
        rc = errbuf_set(eb, RC_PARSE, "compaction: incomplete manifest %s", path);
    for (size_t i = 0; rc == RC_OK && i < m->n_inputs; i++)
        if (!storage_key_is_valid(m->inputs[i]))
            rc = errbuf_set(eb, RC_PARSE, "compaction: bad input key in manifest %s", path);
    if (rc != RC_OK) {
        compaction__manifest_free(m);
        return rc;
    }
    snprintf(m->path, sizeof(m->path), "%s", path);
    return RC_OK;
}

/* ---- deleting inputs ------------------------------------------------------------ */

int compaction__delete_inputs(struct storage *st, const struct cmanifest *m, uint64_t *deleted,
                              struct errbuf *eb)
{
    size_t failed = 0;
    int rc = m->n_inputs
                 ? storage_delete_many(st, (const char *const *)m->inputs, m->n_inputs, &failed, eb)
                 : RC_OK;
    if (deleted)
        *deleted += m->n_inputs - failed;
    if (m->tier == COMPACTION_DAILY)
        for (size_t i = 0; i < m->n_inputs; i++)
            compaction__remove_empty_dirs(st, m->inputs[i], 1);
    return rc;
}

/* ---- recovery ------------------------------------------------------------------ */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Catalog ids of the manifest's output (0 if absent) and inputs. */
static void find_ids(struct catalog *cat, const struct cmanifest *m, uint64_t *out_id,
                     uint64_t *in_ids, size_t *n_in)
{
    *out_id = 0;
    *n_in = 0;
    char **sorted = xmalloc((m->n_inputs + 1) * sizeof(*sorted));
    if (m->n_inputs) {
        memcpy(sorted, m->inputs, m->n_inputs * sizeof(*sorted));
        qsort(sorted, m->n_inputs, sizeof(*sorted), cmp_str);
    }
    struct catalog_file_list fl;
    catalog_files_list(cat, m->db, m->measurement, INT64_MIN, INT64_MAX, &fl);
    for (size_t i = 0; i < fl.n; i++) {
        const char *k = fl.files[i].key;
        if (strcmp(k, m->output_key) == 0)
            *out_id = fl.files[i].id;
        else if (m->n_inputs && bsearch(&k, sorted, m->n_inputs, sizeof(*sorted), cmp_str))
            in_ids[(*n_in)++] = fl.files[i].id;
    }
    catalog_file_list_free(&fl);
    xfree(sorted);
}

/* Completes one manifest. *forward tells which way it went. */
static int complete(struct storage *st, struct catalog *cat, struct cmanifest *m, bool *forward,
                    uint64_t *deleted, struct errbuf *eb)
{
    struct storage_object_info info;
    int rc = storage_head(st, m->output_key, &info, eb);
    if (rc != RC_OK && rc != RC_NOT_FOUND)
        return rc;
    bool have_output = rc == RC_OK;
    rc = RC_OK;
    errbuf_clear(eb);
    uint64_t out_id = 0;
    uint64_t *in_ids = xmalloc((m->n_inputs + 1) * sizeof(*in_ids));
    size_t n_in = 0;
    find_ids(cat, m, &out_id, in_ids, &n_in);
    /* Inputs leave the catalog only through the swap (all at once, under
     * the partition lock), so none of them listed means the swap had
     * completed; the output may since have been removed or rewritten by a
     * retention run or a delete, which must not bring the inputs back. */
    bool swapped = m->n_inputs > 0 && n_in == 0;
    *forward = have_output || swapped;
    if (have_output) {
        uint64_t new_id = 0;
        if (out_id == 0 && !swapped) {
            /* Crash between the put and catalog_files_add. */
            struct catalog_file_entry e = {
                .key = m->output_key,
                .db = m->db,
                .measurement = m->measurement,
                .min_time_us = m->output_min_us,
                .max_time_us = m->output_max_us,
                .row_count = m->output_rows,
                .bytes = info.size_bytes,
                .tier = m->tier == COMPACTION_DAILY ? CATALOG_TIER_DAILY : CATALOG_TIER_COMPACTED,
            };
            if (e.min_time_us > e.max_time_us)
                e.max_time_us = e.min_time_us;
            rc = catalog_files_add(cat, &e, 1, &new_id, eb);
        }
        if (rc == RC_OK)
            rc = catalog_files_swap(cat, &new_id, new_id ? 1 : 0, in_ids, n_in, eb);
        if (rc == RC_OK)
            rc = compaction__delete_inputs(st, m, deleted, eb);
    } else if (swapped) {
        rc = compaction__delete_inputs(st, m, deleted, eb);
    } else if (out_id) {
        /* Cannot normally happen (the catalog entry follows the put). */
        rc = catalog_files_remove(cat, &out_id, 1, eb);
    }
    xfree(in_ids);
    return rc;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

int compaction_recover(const char *temp_dir, struct storage *st, struct catalog *cat,
                       struct compaction_recovery_stats *out, struct errbuf *eb)
{
    struct compaction_recovery_stats stats = {0};
    int first_rc = RC_OK;
    char mdir[1100];
    snprintf(mdir, sizeof(mdir), "%s/manifests", temp_dir);
    DIR *d = opendir(mdir);
    if (d) {
        struct dirent *de;
        char **names = NULL;
        size_t nn = 0, cap = 0;
        while ((de = readdir(d)) != NULL) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            if (nn == cap) {
                cap = cap ? cap * 2 : 16;
                names = xrealloc(names, cap * sizeof(*names));
            }
            names[nn++] = xstrdup(de->d_name);
        }
        closedir(d);
        if (nn > 1)
            qsort(names, nn, sizeof(*names), cmp_str);
        for (size_t i = 0; i < nn; i++) {
            char path[1400];
            snprintf(path, sizeof(path), "%s/%s", mdir, names[i]);
            if (names[i][0] == '.') {
                /* A manifest write that never completed: nothing followed it. */
                unlink(path);
                continue;
            }
            if (!compaction__ends_with(names[i], ".manifest"))
                continue;
            stats.manifests++;
            struct cmanifest m;
            struct errbuf leb = {0};
            if (compaction__manifest_read(path, &m, &leb) != RC_OK) {
                char bad[1500];
                snprintf(bad, sizeof(bad), "%s.bad", path);
                log_error("compaction", "recovery: unreadable manifest moved aside path=%s err=%s",
                          bad, leb.msg);
                if (rename(path, bad) != 0)
                    log_error("compaction", "recovery: rename %s: %s", path, strerror(errno));
                stats.failed++;
                continue;
            }
            bool forward = false;
            int rc = complete(st, cat, &m, &forward, &stats.inputs_deleted, &leb);
            if (rc == RC_OK) {
                if (forward)
                    stats.rolled_forward++;
                else
                    stats.rolled_back++;
                log_info("compaction",
                         "recovery: %s swap db=%s measurement=%s output=%s inputs=%zu",
                         forward ? "completed" : "rolled back", m.db, m.measurement, m.output_key,
                         m.n_inputs);
                compaction__manifest_remove(&m);
            } else {
                stats.failed++;
                log_error("compaction", "recovery: manifest left for the next start path=%s err=%s",
                          path, leb.msg);
                if (first_rc == RC_OK) {
                    first_rc = rc;
                    errbuf_set(eb, rc, "%s", leb.msg);
                }
            }
            compaction__manifest_free(&m);
        }
        for (size_t i = 0; i < nn; i++)
            xfree(names[i]);
        xfree(names);
    } else if (errno != ENOENT) {
        log_warn("compaction", "recovery: cannot read %s: %s", mdir, strerror(errno));
    }
    /* Work directories of interrupted jobs (downloads, partial outputs). */
    d = opendir(temp_dir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (strncmp(de->d_name, "job-", 4) != 0)
                continue;
            char path[1400];
            snprintf(path, sizeof(path), "%s/%s", temp_dir, de->d_name);
            if (nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
                log_warn("compaction", "recovery: cannot remove %s", path);
        }
        closedir(d);
    }
    if (stats.rolled_forward || stats.rolled_back)
        (void)query_cache_clear();
    if (stats.manifests)
        log_info("compaction",
                 "recovery: manifests=%llu completed=%llu rolled_back=%llu inputs_deleted=%llu "
                 "failed=%llu",
                 (unsigned long long)stats.manifests, (unsigned long long)stats.rolled_forward,
                 (unsigned long long)stats.rolled_back, (unsigned long long)stats.inputs_deleted,
                 (unsigned long long)stats.failed);
    if (out)
        *out = stats;
    return first_rc;
}
