/*
 * storage/local.c — the local-directory backend of storage.h.
 *
 * Object `key` is the file {base}/{key}. Durability and atomicity (SPEC §3.3):
 *
 *   storage_staging_path  mkdir -p {base}/{dir(key)} (each created directory's
 *                         parent is fsynced), returns
 *                         {base}/{dir(key)}/.{name(key)}.{pid}.{n}.tmp
 *   producer              writes the staging file (hidden, not *.parquet)
 *   storage_put_file      fsync(file); renameat2(RENAME_NOREPLACE) or
 *                         rename(); fsync(directory)
 *
 * so a reader listing or globbing *.parquet sees either nothing or the whole
 * file, and a crash leaves at worst a hidden staging file behind.
 *
 * State: the base path (immutable) and an atomic counter for staging names;
 * no locks. Thread-safe. Called from flush workers, query threads, the
 * scheduler and startup.
 */
#include "storage/storage_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "util/log.h"
#include "util/mem.h"
#include "util/strbuf.h"

/* Directory nesting deeper than this is not Arc's layout; stop there rather
 * than recurse without bound (symlinks are never followed either). */
#define LIST_MAX_DEPTH 32

struct local {
    char *base;           /* without trailing '/', immutable */
    _Atomic uint64_t seq; /* staging-name counter */
};

static struct local *L(const struct storage *st)
{
    return st->impl;
}

static int io_err(struct errbuf *eb, const char *op, const char *path, int err)
{
    int rc = err == ENOENT ? RC_NOT_FOUND : RC_IO;
    return errbuf_set(eb, rc, "storage: %s %s: %s", op, path, strerror(err));
}

static int path_of(const struct storage *st, const char *key, char *buf, size_t cap,
                   struct errbuf *eb)
{
    int n = snprintf(buf, cap, "%s/%s", L(st)->base, key);
    if (n < 0 || (size_t)n >= cap)
        return errbuf_set(eb, RC_LIMIT, "storage: path too long for key %.200s", key);
    return RC_OK;
}

static int fsync_dir(const char *dir, struct errbuf *eb)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return io_err(eb, "open dir", dir, errno);
    int rc = RC_OK;
    if (fsync(fd) != 0 && errno != EINVAL) /* some file systems refuse dir fsync */
        rc = io_err(eb, "fsync dir", dir, errno);
    close(fd);
    return rc;
}

/* mkdir -p for path[0..len). Whenever a directory is created, its parent is
 * fsynced so the new entry survives a crash (the file renamed into it later
 * would otherwise be unreachable). */
static int mkdir_p(const char *path, size_t len, struct errbuf *eb)
{
    char *p = xstrndup(path, len);
    int rc = RC_OK;
    struct stat sb;
    if (stat(p, &sb) == 0) {
        if (!S_ISDIR(sb.st_mode))
            rc = errbuf_set(eb, RC_IO, "storage: %s exists and is not a directory", p);
        goto out;
    }
    for (size_t i = 1; i <= len; i++) {
        if (i < len && p[i] != '/')
            continue;
        char saved = p[i];
        p[i] = '\0';
        if (mkdir(p, 0755) == 0) {
            char *slash = strrchr(p, '/');
            if (slash && slash != p) {
                *slash = '\0';
                (void)fsync_dir(p, NULL); /* best effort: durability, not correctness */
                *slash = '/';
            }
        } else if (errno != EEXIST) {
            rc = io_err(eb, "mkdir", p, errno);
            p[i] = saved;
            goto out;
        }
        p[i] = saved;
    }
out:
    xfree(p);
    return rc;
}

/* ---- writing ------------------------------------------------------------ */

static int local_staging_path(struct storage *st, const char *key, char *buf, size_t cap,
                              struct errbuf *eb)
{
    struct local *l = L(st);
    const char *slash = strrchr(key, '/');
    const char *name = slash ? slash + 1 : key;
    size_t dirlen = slash ? (size_t)(slash - key) : 0;
    uint64_t n = atomic_fetch_add_explicit(&l->seq, 1, memory_order_relaxed);
    int w;
    if (dirlen)
        w = snprintf(buf, cap, "%s/%.*s/.%s.%ld.%llu.tmp", l->base, (int)dirlen, key, name,
                     (long)getpid(), (unsigned long long)n);
    else
        w = snprintf(buf, cap, "%s/.%s.%ld.%llu.tmp", l->base, name, (long)getpid(),
                     (unsigned long long)n);
    if (w < 0 || (size_t)w >= cap)
        return errbuf_set(eb, RC_LIMIT, "storage: staging path too long for key %.200s", key);
    const char *last = strrchr(buf, '/');
    return mkdir_p(buf, (size_t)(last - buf), eb);
}

/* Copies src into a fresh staging file next to dst and returns its path in
 * tmp (used when src is on another file system). */
static int copy_to_staging(const char *src, const char *dst, char *tmp, size_t cap,
                           struct errbuf *eb)
{
    static _Atomic uint64_t seq;
    const char *slash = strrchr(dst, '/');
    int w = snprintf(tmp, cap, "%.*s/.%s.%ld.x%llu.tmp", (int)(slash - dst), dst, slash + 1,
                     (long)getpid(),
                     (unsigned long long)atomic_fetch_add_explicit(&seq, 1, memory_order_relaxed));
    if (w < 0 || (size_t)w >= cap)
        return errbuf_set(eb, RC_LIMIT, "storage: path too long %.200s", dst);
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return io_err(eb, "open", src, errno);
    int out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    int rc = RC_OK;
    if (out < 0) {
        rc = io_err(eb, "create", tmp, errno);
        goto out;
    }
    char buf[65536];
    for (;;) {
        ssize_t r = read(in, buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = io_err(eb, "read", src, errno);
            goto out;
        }
        if (r == 0)
            break;
        for (ssize_t off = 0; off < r;) {
            ssize_t wr = write(out, buf + off, (size_t)(r - off));
            if (wr < 0 && errno == EINTR)
                continue;
            if (wr < 0) {
                rc = io_err(eb, "write", tmp, errno);
                goto out;
            }
            off += wr;
        }
    }
    if (fsync(out) != 0)
        rc = io_err(eb, "fsync", tmp, errno);
out:
    close(in);
    if (out >= 0) {
        close(out);
        if (rc != RC_OK)
            unlink(tmp);
    }
    return rc;
}

/* rename that fails with EEXIST instead of replacing an existing dst. */
static int rename_noreplace(const char *src, const char *dst)
{
    if (renameat2(AT_FDCWD, src, AT_FDCWD, dst, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
    /* File system without RENAME_NOREPLACE: link() is atomic and refuses to
     * replace, then drop the old name. */
    if (link(src, dst) != 0)
        return -1;
    unlink(src);
    return 0;
}

static int local_put_file(struct storage *st, const char *local_path, const char *key,
                          unsigned flags, uint64_t *out_bytes, struct errbuf *eb)
{
    char dst[4096], tmp[4096];
    int rc = path_of(st, key, dst, sizeof(dst), eb);
    if (rc != RC_OK)
        return rc;
    const char *slash = strrchr(dst, '/');
    rc = mkdir_p(dst, (size_t)(slash - dst), eb);
    if (rc != RC_OK)
        return rc;

    int fd = open(local_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return io_err(eb, "open", local_path, errno);
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return errbuf_set(eb, RC_IO, "storage: %s is not a regular file", local_path);
    }
    if (fsync(fd) != 0) {
        int e = errno;
        close(fd);
        return io_err(eb, "fsync", local_path, e);
    }
    close(fd);

    const char *src = local_path;
    bool copied = false;
    int r = (flags & STORAGE_PUT_NOREPLACE) ? rename_noreplace(src, dst) : rename(src, dst);
    if (r != 0 && errno == EXDEV) {
        /* Different file system: copy next to the destination, then rename
         * that copy (still atomic for readers). */
        rc = copy_to_staging(local_path, dst, tmp, sizeof(tmp), eb);
        if (rc != RC_OK)
            return rc;
        src = tmp;
        copied = true;
        r = (flags & STORAGE_PUT_NOREPLACE) ? rename_noreplace(src, dst) : rename(src, dst);
    }
    if (r != 0) {
        int e = errno;
        if (copied)
            unlink(tmp);
        if (e == EEXIST)
            return errbuf_set(eb, RC_EXISTS, "storage: object exists %.200s", key);
        if (e == ENOENT)
            return errbuf_set(eb, RC_NOT_FOUND, "storage: no file %s", local_path);
        return io_err(eb, "rename", dst, e);
    }
    if (copied)
        unlink(local_path);

    char dir[4096];
    snprintf(dir, sizeof(dir), "%.*s", (int)(slash - dst), dst);
    rc = fsync_dir(dir, eb);
    if (rc != RC_OK)
        return rc; /* the object exists but its durability is unknown: report it */
    *out_bytes = (uint64_t)sb.st_size;
    return RC_OK;
}

/* ---- reading ------------------------------------------------------------ */

static int local_get_file(struct storage *st, const char *key, const char *local_path,
                          struct errbuf *eb)
{
    char src[4096];
    int rc = path_of(st, key, src, sizeof(src), eb);
    if (rc != RC_OK)
        return rc;
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return io_err(eb, "open", src, errno);
    int out = open(local_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
        rc = errbuf_set(eb, RC_IO, "storage: create %s: %s", local_path, strerror(errno));
        close(in);
        return rc;
    }
    char buf[65536];
    for (;;) {
        ssize_t r = read(in, buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = io_err(eb, "read", src, errno);
            break;
        }
        if (r == 0)
            break;
        for (ssize_t off = 0; off < r && rc == RC_OK;) {
            ssize_t w = write(out, buf + off, (size_t)(r - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                rc = errbuf_set(eb, RC_IO, "storage: write %s: %s", local_path, strerror(errno));
            else
                off += w;
        }
        if (rc != RC_OK)
            break;
    }
    close(in);
    if (close(out) != 0 && rc == RC_OK)
        rc = errbuf_set(eb, RC_IO, "storage: close %s: %s", local_path, strerror(errno));
    if (rc != RC_OK)
        unlink(local_path);
    return rc;
}

static int local_read_range(struct storage *st, const char *key, uint64_t offset, void *buf,
                            size_t len, size_t *out_len, struct errbuf *eb)
{
    char path[4096];
    int rc = path_of(st, key, path, sizeof(path), eb);
    if (rc != RC_OK)
        return rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return io_err(eb, "open", path, errno);
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(fd, (char *)buf + got, len - got, (off_t)(offset + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = io_err(eb, "read", path, errno);
            break;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (rc == RC_OK)
        *out_len = got;
    return rc;
}

static int64_t mtime_us_of(const struct stat *sb)
{
    return (int64_t)sb->st_mtim.tv_sec * 1000000 + sb->st_mtim.tv_nsec / 1000;
}

static int local_head(struct storage *st, const char *key, struct storage_object_info *out,
                      struct errbuf *eb)
{
    char path[4096];
    int rc = path_of(st, key, path, sizeof(path), eb);
    if (rc != RC_OK)
        return rc;
    struct stat sb;
    if (stat(path, &sb) != 0)
        return io_err(eb, "stat", path, errno);
    if (!S_ISREG(sb.st_mode))
        return errbuf_set(eb, RC_NOT_FOUND, "storage: not an object %.200s", key);
    out->size_bytes = (uint64_t)sb.st_size;
    out->mtime_us = mtime_us_of(&sb);
    return RC_OK;
}

/* Recursive walk state. `key` holds the relative key of the current
 * directory (with trailing '/' unless empty). */
struct walk {
    const char *prefix;
    size_t prefix_len;
    storage_list_fn fn;
    void *ctx;
    struct strbuf key;
    struct errbuf *eb;
};

/* Can anything below key `k` (a directory key ending in '/') match the
 * prefix? True if one is a prefix of the other. */
static bool dir_may_match(const struct walk *w, const char *k, size_t klen)
{
    size_t n = klen < w->prefix_len ? klen : w->prefix_len;
    return memcmp(k, w->prefix, n) == 0;
}

static int walk_dir(struct walk *w, int dirfd, int depth)
{
    if (depth > LIST_MAX_DEPTH) {
        log_warn("storage", "listing stopped at depth %d key=%.200s", depth, w->key.data);
        close(dirfd);
        return RC_OK;
    }
    DIR *d = fdopendir(dirfd);
    if (!d) {
        int e = errno;
        close(dirfd);
        return errbuf_set(w->eb, RC_IO, "storage: opendir %.200s: %s", w->key.data, strerror(e));
    }
    int rc = RC_OK;
    size_t base_len = w->key.len;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno)
                rc = errbuf_set(w->eb, RC_IO, "storage: readdir %.200s: %s", w->key.data,
                                strerror(errno));
            break;
        }
        const char *nm = de->d_name;
        size_t nl = strlen(nm);
        if (storage__component_hidden(nm, nl)) /* also skips "." and ".." */
            continue;
        w->key.len = base_len;
        w->key.data[base_len] = '\0';
        if (strbuf_append(&w->key, nm, nl) != RC_OK) {
            rc = errbuf_set(w->eb, RC_LIMIT, "storage: key too long while listing");
            break;
        }
        struct stat sb;
        if (fstatat(dirfd, nm, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT) /* deleted while we walk */
                continue;
            rc = errbuf_set(w->eb, RC_IO, "storage: stat %.200s: %s", w->key.data, strerror(errno));
            break;
        }
        if (S_ISDIR(sb.st_mode)) {
            if (strbuf_putc(&w->key, '/') != RC_OK) {
                rc = errbuf_set(w->eb, RC_LIMIT, "storage: key too long while listing");
                break;
            }
            if (!dir_may_match(w, w->key.data, w->key.len))
                continue;
            int sub = openat(dirfd, nm, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0) {
                if (errno == ENOENT)
                    continue;
                rc = errbuf_set(w->eb, RC_IO, "storage: open %.200s: %s", w->key.data,
                                strerror(errno));
                break;
            }
            rc = walk_dir(w, sub, depth + 1);
            if (rc != RC_OK)
                break;
        } else if (S_ISREG(sb.st_mode)) {
            if (w->key.len < w->prefix_len || memcmp(w->key.data, w->prefix, w->prefix_len) != 0)
                continue;
            rc = w->fn(w->ctx, w->key.data, (uint64_t)sb.st_size, mtime_us_of(&sb));
            if (rc != RC_OK)
                break;
        }
        /* Symlinks, sockets, ... are not objects. */
    }
    w->key.len = base_len;
    if (w->key.data)
        w->key.data[base_len] = '\0';
    closedir(d);
    return rc;
}

static int local_list(struct storage *st, const char *prefix, storage_list_fn fn, void *ctx,
                      struct errbuf *eb)
{
    struct walk w = {
        .prefix = prefix, .prefix_len = strlen(prefix), .fn = fn, .ctx = ctx, .eb = eb};
    strbuf_init(&w.key, STORAGE_KEY_MAX + 256);
    /* Start at the deepest directory the prefix names completely. */
    const char *slash = strrchr(prefix, '/');
    size_t dirlen = slash ? (size_t)(slash - prefix) : 0;
    char path[4096];
    int n = dirlen ? snprintf(path, sizeof(path), "%s/%.*s", L(st)->base, (int)dirlen, prefix)
                   : snprintf(path, sizeof(path), "%s", L(st)->base);
    int rc = RC_OK;
    if (n < 0 || (size_t)n >= sizeof(path)) {
        rc = errbuf_set(eb, RC_LIMIT, "storage: prefix too long");
        goto out;
    }
    if (dirlen &&
        (strbuf_append(&w.key, prefix, dirlen) != RC_OK || strbuf_putc(&w.key, '/') != RC_OK)) {
        rc = errbuf_set(eb, RC_LIMIT, "storage: prefix too long");
        goto out;
    }
    if (!w.key.data && strbuf_reserve(&w.key, 64) != RC_OK) {
        rc = errbuf_set(eb, RC_LIMIT, "storage: prefix too long");
        goto out;
    }
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            goto out; /* nothing under this prefix */
        rc = io_err(eb, "open", path, errno);
        goto out;
    }
    rc = walk_dir(&w, fd, 0);
out:
    strbuf_cleanup(&w.key);
    return rc;
}

/* ---- deleting ----------------------------------------------------------- */

static int local_delete(struct storage *st, const char *key, struct errbuf *eb)
{
    char path[4096];
    int rc = path_of(st, key, path, sizeof(path), eb);
    if (rc != RC_OK)
        return rc;
    if (unlink(path) != 0 && errno != ENOENT)
        return errbuf_set(eb, RC_IO, "storage: unlink %s: %s", path, strerror(errno));
    return RC_OK;
}

static const char *local_root(const struct storage *st)
{
    return L(st)->base;
}

static void local_destroy(struct storage *st)
{
    struct local *l = L(st);
    xfree(l->base);
    xfree(l);
}

static const struct storage_ops local_ops = {
    .name = "local",
    .staging_path = local_staging_path,
    .put_file = local_put_file,
    .get_file = local_get_file,
    .read_range = local_read_range,
    .head = local_head,
    .list = local_list,
    .delete_one = local_delete,
    .delete_many = NULL,
    .local_root = local_root,
    .destroy = local_destroy,
};

int storage_new_local(const char *base_path, struct storage **out, struct errbuf *eb)
{
    if (!base_path || !base_path[0])
        return errbuf_set(eb, RC_INVALID, "storage: empty local base path");
    size_t len = strlen(base_path);
    while (len > 1 && base_path[len - 1] == '/')
        len--;
    if (len > 2048)
        return errbuf_set(eb, RC_INVALID, "storage: local base path too long");
    int rc = mkdir_p(base_path, len, eb);
    if (rc != RC_OK)
        return rc;
    struct local *l = xcalloc(1, sizeof(*l));
    l->base = xstrndup(base_path, len);
    atomic_init(&l->seq, 0);
    *out = storage__new(&local_ops, l);
    return RC_OK;
}
