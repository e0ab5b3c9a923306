/*
 * jobs/compaction_merge.c — the DuckDB side of compaction (and the file
 * statistics retention needs): merging a batch of local Parquet files into
 * one (SPEC §7.2).
 *
 * A merge:
 *   1. probes every input alone: its footer must parse and it must have a
 *      `time` column (parquet_schema), and its arc:tags metadata is read
 *      (parquet_kv_metadata); an input failing either is skipped;
 *   2. describes the union of the remaining inputs (union_by_name) to get
 *      the column set, sorted byte-wise after `time`;
 *   3. counts their rows (footer metadata only);
 *   4. runs
 *        COPY (SELECT CAST("time" AS TIMESTAMPTZ) AS "time", "a", "b", ...
 *              FROM read_parquet([...], union_by_name = true)
 *              ORDER BY [sort keys,] "time")
 *        TO '<out>' (FORMAT parquet, COMPRESSION .., COMPRESSION_LEVEL ..,
 *                    ROW_GROUP_SIZE 122880, KV_METADATA {'arc:tags': '..'})
 *      or, with dedup, a GROUP BY ("time", tags...) whose fields take
 *        last(f ORDER BY file position, file_row_number) FILTER (f IS NOT NULL)
 *      i.e. the last non-null value in write order;
 *   5. if the COPY fails (page-level corruption the footer probe cannot
 *      see), scans each input fully to find the unreadable ones, skips
 *      them and tries once more;
 *   6. reads back the output's row count and time range (which also checks
 *      it is a valid file); without dedup rows out must equal rows in.
 *
 * The connection belongs to one job (one thread); it may be interrupted
 * (duckdb_interrupt) by the manager when the job's deadline passes.
 */
#include "jobs/compaction_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/mem.h"

#define ROW_GROUP_ROWS 122880
#define MAX_COLUMNS 4096

int compaction__duckdb_open(int threads, const char *memory_limit, const char *temp_directory,
                            duckdb_database *out, struct errbuf *eb)
{
    duckdb_config cfg = NULL;
    if (duckdb_create_config(&cfg) == DuckDBError)
        return errbuf_set(eb, RC_DB, "compaction: cannot create DuckDB config");
    char num[32];
    snprintf(num, sizeof(num), "%d", threads > 0 ? threads : 1);
    int rc = RC_OK;
    struct {
        const char *k, *v;
    } set[] = {
        {"threads", num},
        /* Outputs are sorted explicitly; not preserving insertion order
         * lets DuckDB sort and write with less memory. */
        {"preserve_insertion_order", "false"},
        {"autoinstall_known_extensions", "false"},
        {"autoload_known_extensions", "false"},
        {"memory_limit", memory_limit && memory_limit[0] ? memory_limit : NULL},
        {"temp_directory", temp_directory},
    };
    for (size_t i = 0; i < sizeof(set) / sizeof(set[0]); i++) {
        if (set[i].v && duckdb_set_config(cfg, set[i].k, set[i].v) == DuckDBError) {
            rc = errbuf_set(eb, RC_INVALID, "compaction: bad DuckDB setting %s=%s", set[i].k,
                            set[i].v);
            duckdb_destroy_config(&cfg);
            return rc;
        }
    }
    char *err = NULL;
    if (duckdb_open_ext(NULL, out, cfg, &err) == DuckDBError) {
        rc = errbuf_set(eb, RC_DB, "compaction: cannot open DuckDB: %s", err ? err : "?");
        duckdb_free(err);
    }
    duckdb_destroy_config(&cfg);
    return rc;
}

/* Runs sql, discarding the result. */
static int exec(duckdb_connection conn, const char *sql, struct errbuf *eb, const char *what)
{
    duckdb_result r;
    int rc = RC_OK;
    if (duckdb_query(conn, sql, &r) == DuckDBError) {
        bool intr = duckdb_result_error_type(&r) == DUCKDB_ERROR_INTERRUPT;
        rc = errbuf_set(eb, intr ? RC_TIMEOUT : RC_DB, "compaction: %s: %s", what,
                        intr ? "interrupted (deadline or shutdown)" : duckdb_result_error(&r));
    }
    duckdb_destroy_result(&r);
    return rc;
}

int compaction__duckdb_connect(duckdb_database db, duckdb_connection *out, struct errbuf *eb)
{
    if (duckdb_connect(db, out) == DuckDBError)
        return errbuf_set(eb, RC_DB, "compaction: cannot connect to DuckDB");
    int rc = exec(*out, "SET TimeZone = 'UTC'", eb, "set time zone");
    if (rc != RC_OK)
        duckdb_disconnect(out);
    return rc;
}

int compaction__sql_literal(struct strbuf *sb, const char *s)
{
    int rc = strbuf_putc(sb, '\'');
    for (const char *p = s; rc == RC_OK && *p; p++)
        rc = *p == '\'' ? strbuf_puts(sb, "''") : strbuf_putc(sb, *p);
    return rc == RC_OK ? strbuf_putc(sb, '\'') : rc;
}

int compaction__sql_ident(struct strbuf *sb, const char *s)
{
    int rc = strbuf_putc(sb, '"');
    for (const char *p = s; rc == RC_OK && *p; p++)
        rc = *p == '"' ? strbuf_puts(sb, "\"\"") : strbuf_putc(sb, *p);
    return rc == RC_OK ? strbuf_putc(sb, '"') : rc;
}

bool compaction__path_is_plain(const char *path)
{
    /* read_parquet expands glob characters; our keys never contain them. */
    return path && path[0] && !strpbrk(path, "*?[]{}\n\r");
}

int compaction__file_stats(duckdb_connection conn, const char *path, int64_t *rows, int64_t *min_us,
                           int64_t *max_us, struct errbuf *eb)
{
    if (!compaction__path_is_plain(path))
        return errbuf_set(eb, RC_INVALID, "compaction: unusable path %.200s", path);
    struct strbuf sql;
    strbuf_init(&sql, 0);
    (void)strbuf_puts(&sql, "SELECT count(*), epoch_us(min(\"time\")), epoch_us(max(\"time\")) "
                            "FROM read_parquet(");
    (void)compaction__sql_literal(&sql, path);
    (void)strbuf_putc(&sql, ')');
    duckdb_result r;
    int rc = RC_OK;
    if (duckdb_query(conn, sql.data, &r) == DuckDBError) {
        bool intr = duckdb_result_error_type(&r) == DUCKDB_ERROR_INTERRUPT;
        rc = errbuf_set(eb, intr ? RC_TIMEOUT : RC_DB, "compaction: cannot read %.200s: %s", path,
                        duckdb_result_error(&r));
    } else {
        *rows = duckdb_value_int64(&r, 0, 0);
        *min_us = duckdb_value_is_null(&r, 1, 0) ? 0 : duckdb_value_int64(&r, 1, 0);
        *max_us = duckdb_value_is_null(&r, 2, 0) ? 0 : duckdb_value_int64(&r, 2, 0);
    }
    duckdb_destroy_result(&r);
    strbuf_cleanup(&sql);
    return rc;
}

/* ---- merge ---------------------------------------------------------------- */

struct column {
    char *name;
    bool is_tag;
};

struct merge_state {
    struct column *cols; /* without time, byte-wise sorted */
    size_t ncols;
    char **tags; /* union of arc:tags names */
    size_t ntags, tagcap;
};

static void state_free(struct merge_state *s)
{
    for (size_t i = 0; i < s->ncols; i++)
        xfree(s->cols[i].name);
    xfree(s->cols);
    for (size_t i = 0; i < s->ntags; i++)
        xfree(s->tags[i]);
    xfree(s->tags);
    memset(s, 0, sizeof(*s));
}

static void add_tag(struct merge_state *s, const char *name, size_t len)
{
    if (len == 0)
        return;
    for (size_t i = 0; i < s->ntags; i++)
        if (strlen(s->tags[i]) == len && memcmp(s->tags[i], name, len) == 0)
            return;
    if (s->ntags == s->tagcap) {
        s->tagcap = s->tagcap ? s->tagcap * 2 : 8;
        s->tags = xrealloc(s->tags, s->tagcap * sizeof(*s->tags));
    }
    s->tags[s->ntags++] = xstrndup(name, len);
}

/* Appends the tags of one arc:tags value. */
static void add_tags(struct merge_state *s, const char *v)
{
    for (const char *p = v; p && *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        add_tag(s, p, len);
        p = e ? e + 1 : p + len;
    }
}

/* Footer + schema probe of one input; collects its arc:tags. */
static int probe(duckdb_connection conn, struct cmerge_input *in, struct merge_state *s,
                 struct errbuf *eb)
{
    struct strbuf sql;
    strbuf_init(&sql, 0);
    (void)strbuf_puts(&sql, "SELECT count(*) FILTER (WHERE name = 'time') FROM parquet_schema(");
    (void)compaction__sql_literal(&sql, in->path);
    (void)strbuf_putc(&sql, ')');
    duckdb_result r;
    int rc = RC_OK;
    if (duckdb_query(conn, sql.data, &r) == DuckDBError) {
        if (duckdb_result_error_type(&r) == DUCKDB_ERROR_INTERRUPT) {
            rc = errbuf_set(eb, RC_TIMEOUT, "compaction: interrupted (deadline or shutdown)");
        } else {
            in->skipped = true;
            snprintf(in->reason, sizeof(in->reason), "%s", duckdb_result_error(&r));
        }
        duckdb_destroy_result(&r);
        goto out;
    }
    bool has_time = duckdb_value_int64(&r, 0, 0) == 1;
    duckdb_destroy_result(&r);
    if (!has_time) {
        in->skipped = true;
        snprintf(in->reason, sizeof(in->reason), "no `time` column");
        goto out;
    }
    strbuf_reset(&sql);
    /* decode(): the BLOB as UTF-8 text (a cast would hex-escape non-ASCII). */
    (void)strbuf_puts(&sql, "SELECT decode(value) FROM parquet_kv_metadata(");
    (void)compaction__sql_literal(&sql, in->path);
    (void)strbuf_puts(&sql, ") WHERE decode(key) = 'arc:tags'");
    if (duckdb_query(conn, sql.data, &r) == DuckDBError) {
        in->skipped = true;
        snprintf(in->reason, sizeof(in->reason), "%s", duckdb_result_error(&r));
        duckdb_destroy_result(&r);
        goto out;
    }
    for (idx_t row = 0; row < duckdb_row_count(&r); row++) {
        char *v = duckdb_value_varchar(&r, 0, row);
        add_tags(s, v);
        duckdb_free(v);
    }
    duckdb_destroy_result(&r);
out:
    strbuf_cleanup(&sql);
    return rc;
}

static size_t find_input(const struct cmerge_input *in, size_t n, const char *path)
{
    for (size_t i = 0; i < n; i++)
        if (!in[i].skipped && strcmp(in[i].path, path) == 0)
            return i;
    return n;
}

static void append_file_list(struct strbuf *sb, const struct cmerge_input *in, size_t n);

/* The fast path of the probe: footers, `time` columns and arc:tags of all
 * inputs in two statements. Returns false (state untouched) if any input
 * cannot be read, so the caller probes them one by one. */
static bool probe_all(duckdb_connection conn, struct cmerge_input *in, size_t n,
                      struct merge_state *s)
{
    bool *has_time = xcalloc(n + 1, sizeof(*has_time));
    struct strbuf sql;
    strbuf_init(&sql, 0);
    duckdb_result r;
    bool ok = false;
    (void)strbuf_puts(&sql, "SELECT file_name FROM parquet_schema(");
    append_file_list(&sql, in, n);
    (void)strbuf_puts(&sql, ") WHERE name = 'time'");
    if (duckdb_query(conn, sql.data, &r) == DuckDBError) {
        duckdb_destroy_result(&r);
        goto out;
    }
    for (idx_t row = 0; row < duckdb_row_count(&r); row++) {
        char *v = duckdb_value_varchar(&r, 0, row);
        size_t i = v ? find_input(in, n, v) : n;
        if (i < n)
            has_time[i] = true;
        duckdb_free(v);
    }
    duckdb_destroy_result(&r);
    strbuf_reset(&sql);
    (void)strbuf_puts(&sql, "SELECT decode(value) FROM parquet_kv_metadata(");
    append_file_list(&sql, in, n);
    (void)strbuf_puts(&sql, ") WHERE decode(key) = 'arc:tags'");
    if (duckdb_query(conn, sql.data, &r) == DuckDBError) {
        duckdb_destroy_result(&r);
        goto out;
    }
    for (idx_t row = 0; row < duckdb_row_count(&r); row++) {
        char *v = duckdb_value_varchar(&r, 0, row);
        add_tags(s, v);
        duckdb_free(v);
    }
    duckdb_destroy_result(&r);
    for (size_t i = 0; i < n; i++) {
        if (!in[i].skipped && !has_time[i]) {
            in[i].skipped = true;
            snprintf(in[i].reason, sizeof(in[i].reason), "no `time` column");
        }
    }
    ok = true;
out:
    strbuf_cleanup(&sql);
    xfree(has_time);
    return ok;
}

/* Full scan of one input: finds page-level corruption. */
static bool scan_ok(duckdb_connection conn, struct cmerge_input *in)
{
    struct strbuf sql;
    strbuf_init(&sql, 0);
    (void)strbuf_puts(&sql, "SELECT bit_xor(hash(t)) FROM read_parquet(");
    (void)compaction__sql_literal(&sql, in->path);
    (void)strbuf_puts(&sql, ") t");
    duckdb_result r;
    bool ok = duckdb_query(conn, sql.data, &r) != DuckDBError;
    if (!ok)
        snprintf(in->reason, sizeof(in->reason), "%s", duckdb_result_error(&r));
    duckdb_destroy_result(&r);
    strbuf_cleanup(&sql);
    return ok;
}

static void append_file_list(struct strbuf *sb, const struct cmerge_input *in, size_t n)
{
    (void)strbuf_putc(sb, '[');
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        if (in[i].skipped)
            continue;
        if (!first)
            (void)strbuf_puts(sb, ", ");
        (void)compaction__sql_literal(sb, in[i].path);
        first = false;
    }
    (void)strbuf_putc(sb, ']');
}

static int cmp_col(const void *a, const void *b)
{
    return strcmp(((const struct column *)a)->name, ((const struct column *)b)->name);
}

/* Column set of the union of the used inputs (without time). */
static int describe(duckdb_connection conn, struct cmerge_input *in, size_t n,
                    struct merge_state *s, struct errbuf *eb)
{
    for (size_t i = 0; i < s->ncols; i++)
        xfree(s->cols[i].name);
    xfree(s->cols);
    s->cols = NULL;
    s->ncols = 0;
    struct strbuf sql;
    strbuf_init(&sql, 0);
    (void)strbuf_puts(&sql, "DESCRIBE SELECT * FROM read_parquet(");
    append_file_list(&sql, in, n);
    (void)strbuf_puts(&sql, ", union_by_name = true)");
    duckdb_result r;
    int rc = RC_OK;
    if (duckdb_query(conn, sql.data, &r) == DuckDBError) {
        bool intr = duckdb_result_error_type(&r) == DUCKDB_ERROR_INTERRUPT;
        rc = errbuf_set(eb, intr ? RC_TIMEOUT : RC_DB, "compaction: describe inputs: %s",
                        duckdb_result_error(&r));
        duckdb_destroy_result(&r);
        goto out;
    }
    idx_t nr = duckdb_row_count(&r);
    if (nr > MAX_COLUMNS) {
        rc = errbuf_set(eb, RC_LIMIT, "compaction: %llu columns", (unsigned long long)nr);
        duckdb_destroy_result(&r);
        goto out;
    }
    s->cols = xcalloc(nr + 1, sizeof(*s->cols));
    for (idx_t i = 0; i < nr; i++) {
        char *name = duckdb_value_varchar(&r, 0, i);
        if (name && strcmp(name, "time") != 0) {
            struct column *c = &s->cols[s->ncols++];
            c->name = xstrdup(name);
            for (size_t t = 0; t < s->ntags; t++)
                if (strcmp(s->tags[t], name) == 0)
                    c->is_tag = true;
        }
        duckdb_free(name);
    }
    duckdb_destroy_result(&r);
    qsort(s->cols, s->ncols, sizeof(*s->cols), cmp_col);
out:
    strbuf_cleanup(&sql);
    return rc;
}

static size_t used_count(const struct cmerge_input *in, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += !in[i].skipped;
    return k;
}

/* Rows of each used input (footer metadata; the count of the batch is the
 * sum). */
static int count_rows(duckdb_connection conn, struct cmerge_input *in, size_t n, uint64_t *total,
                      struct errbuf *eb)
{
    *total = 0;
    /* Fast path: every footer in one statement. */
    struct strbuf all;
    strbuf_init(&all, 0);
    (void)strbuf_puts(&all, "SELECT file_name, num_rows FROM parquet_file_metadata(");
    append_file_list(&all, in, n);
    (void)strbuf_putc(&all, ')');
    duckdb_result ar;
    bool fast = duckdb_query(conn, all.data, &ar) != DuckDBError;
    if (fast) {
        size_t seen = 0;
        for (idx_t row = 0; row < duckdb_row_count(&ar); row++) {
            char *v = duckdb_value_varchar(&ar, 0, row);
            size_t i = v ? find_input(in, n, v) : n;
            if (i < n) {
                in[i].rows = (uint64_t)duckdb_value_int64(&ar, 1, row);
                *total += in[i].rows;
                seen++;
            }
            duckdb_free(v);
        }
        fast = seen == used_count(in, n);
    }
    duckdb_destroy_result(&ar);
    strbuf_cleanup(&all);
    if (fast)
        return RC_OK;
    *total = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i].skipped)
            continue;
        struct strbuf sql;
        strbuf_init(&sql, 0);
        (void)strbuf_puts(&sql, "SELECT count(*) FROM read_parquet(");
        (void)compaction__sql_literal(&sql, in[i].path);
        (void)strbuf_putc(&sql, ')');
        duckdb_result r;
        int rc = RC_OK;
        if (duckdb_query(conn, sql.data, &r) == DuckDBError) {
            bool intr = duckdb_result_error_type(&r) == DUCKDB_ERROR_INTERRUPT;
            rc = errbuf_set(eb, intr ? RC_TIMEOUT : RC_DB, "compaction: count %s: %s", in[i].path,
                            duckdb_result_error(&r));
        } else {
            in[i].rows = (uint64_t)duckdb_value_int64(&r, 0, 0);
            *total += in[i].rows;
        }
        duckdb_destroy_result(&r);
        strbuf_cleanup(&sql);
        if (rc != RC_OK)
            return rc;
    }
    return RC_OK;
}

static bool has_col(const struct merge_state *s, const char *name)
{
    for (size_t i = 0; i < s->ncols; i++)
        if (strcmp(s->cols[i].name, name) == 0)
            return true;
    return false;
}

static void tags_string(const struct merge_state *s, char *out, size_t cap)
{
    /* Sorted, comma separated: only tags that exist as columns. */
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < s->ncols; i++) {
        if (!s->cols[i].is_tag)
            continue;
        int w = snprintf(out + len, cap - len, "%s%s", len ? "," : "", s->cols[i].name);
        if (w < 0 || (size_t)w >= cap - len) {
            out[len] = '\0';
            break;
        }
        len += (size_t)w;
    }
}

static void build_copy(struct strbuf *sql, struct cmerge_input *in, size_t n, const char *out_path,
                       const struct merge_state *s, const struct cmerge_options *o,
                       const char *tags)
{
    struct strbuf order;
    strbuf_init(&order, 0);
    for (size_t k = 0; k < o->n_sort_cols; k++) {
        if (!has_col(s, o->sort_cols[k]))
            continue;
        (void)compaction__sql_ident(&order, o->sort_cols[k]);
        (void)strbuf_puts(&order, ", ");
    }
    (void)strbuf_puts(&order, "\"time\"");

    (void)strbuf_puts(sql, "COPY (SELECT \"time\"");
    for (size_t i = 0; i < s->ncols; i++) {
        (void)strbuf_puts(sql, ", ");
        if (o->dedup && !s->cols[i].is_tag) {
            /* The last non-null value in write order. */
            (void)strbuf_puts(sql, "last(");
            (void)compaction__sql_ident(sql, s->cols[i].name);
            (void)strbuf_puts(sql, " ORDER BY \"__arc_f\", \"__arc_r\") FILTER (WHERE ");
            (void)compaction__sql_ident(sql, s->cols[i].name);
            (void)strbuf_puts(sql, " IS NOT NULL) AS ");
        }
        (void)compaction__sql_ident(sql, s->cols[i].name);
    }
    (void)strbuf_puts(sql, " FROM (SELECT CAST(\"time\" AS TIMESTAMPTZ) AS \"time\"");
    for (size_t i = 0; i < s->ncols; i++) {
        (void)strbuf_puts(sql, ", ");
        (void)compaction__sql_ident(sql, s->cols[i].name);
    }
    if (o->dedup) {
        (void)strbuf_puts(sql, ", list_position(");
        append_file_list(sql, in, n);
        (void)strbuf_puts(sql, ", \"__arc_file\") AS \"__arc_f\", file_row_number AS \"__arc_r\"");
    }
    (void)strbuf_puts(sql, " FROM read_parquet(");
    append_file_list(sql, in, n);
    (void)strbuf_puts(sql, ", union_by_name = true, hive_partitioning = false");
    if (o->dedup)
        (void)strbuf_puts(sql, ", filename = '__arc_file', file_row_number = true");
    (void)strbuf_puts(sql, "))");
    if (o->dedup) {
        (void)strbuf_puts(sql, " GROUP BY \"time\"");
        for (size_t i = 0; i < s->ncols; i++) {
            if (!s->cols[i].is_tag)
                continue;
            (void)strbuf_puts(sql, ", ");
            (void)compaction__sql_ident(sql, s->cols[i].name);
        }
    }
    (void)strbuf_printf(sql, " ORDER BY %s) TO ", order.data);
    (void)compaction__sql_literal(sql, out_path);
    (void)strbuf_printf(sql, " (FORMAT parquet, COMPRESSION '%s', ROW_GROUP_SIZE %d",
                        o->compression ? o->compression : "zstd", ROW_GROUP_ROWS);
    if (o->compression_level > 0 && o->compression &&
        (strcmp(o->compression, "zstd") == 0 || strcmp(o->compression, "gzip") == 0))
        (void)strbuf_printf(sql, ", COMPRESSION_LEVEL %d", o->compression_level);
    if (tags[0]) {
        (void)strbuf_puts(sql, ", KV_METADATA {'arc:tags': ");
        (void)compaction__sql_literal(sql, tags);
        (void)strbuf_putc(sql, '}');
    }
    (void)strbuf_putc(sql, ')');
    strbuf_cleanup(&order);
}

int compaction__merge(duckdb_connection conn, struct cmerge_input *in, size_t n,
                      const char *out_path, const struct cmerge_options *o,
                      struct cmerge_result *res, struct errbuf *eb)
{
    memset(res, 0, sizeof(*res));
    struct merge_state s = {0};
    struct strbuf sql;
    strbuf_init(&sql, 0);
    int rc = RC_OK;
    if (!compaction__path_is_plain(out_path))
        return errbuf_set(eb, RC_INVALID, "compaction: unusable output path %.200s", out_path);

    for (size_t i = 0; i < n; i++) {
        in[i].rows = 0;
        in[i].reason[0] = '\0';
        in[i].skipped = !compaction__path_is_plain(in[i].path);
        if (in[i].skipped)
            snprintf(in[i].reason, sizeof(in[i].reason), "unusable path");
    }
    if (!probe_all(conn, in, n, &s)) {
        for (size_t i = 0; i < n; i++)
            if (!in[i].skipped && (rc = probe(conn, &in[i], &s, eb)) != RC_OK)
                goto out;
    }
    for (int attempt = 0;; attempt++) {
        if (used_count(in, n) == 0) {
            rc = errbuf_set(eb, RC_INVALID, "compaction: no readable input");
            goto out;
        }
        if ((rc = describe(conn, in, n, &s, eb)) != RC_OK ||
            (rc = count_rows(conn, in, n, &res->rows_in, eb)) != RC_OK)
            goto out;
        tags_string(&s, res->tags, sizeof(res->tags));
        strbuf_reset(&sql);
        build_copy(&sql, in, n, out_path, &s, o, res->tags);
        if (sql.len == 0 || !sql.data) {
            rc = errbuf_set(eb, RC_NOMEM, "compaction: statement too long");
            goto out;
        }
        remove(out_path);
        duckdb_result r;
        if (duckdb_query(conn, sql.data, &r) != DuckDBError) {
            duckdb_destroy_result(&r);
            break;
        }
        bool intr = duckdb_result_error_type(&r) == DUCKDB_ERROR_INTERRUPT;
        char msg[400];
        snprintf(msg, sizeof(msg), "%s", duckdb_result_error(&r));
        duckdb_destroy_result(&r);
        if (intr) {
            rc = errbuf_set(eb, RC_TIMEOUT, "compaction: merge interrupted (deadline or shutdown)");
            goto out;
        }
        if (attempt > 0) {
            rc = errbuf_set(eb, RC_DB, "compaction: merge failed: %s", msg);
            goto out;
        }
        /* Find inputs whose pages cannot be decoded, then retry once. */
        size_t bad = 0;
        for (size_t i = 0; i < n; i++) {
            if (!in[i].skipped && !scan_ok(conn, &in[i])) {
                in[i].skipped = true;
                bad++;
            }
        }
        if (bad == 0) {
            rc = errbuf_set(eb, RC_DB, "compaction: merge failed: %s", msg);
            goto out;
        }
    }
    int64_t rows = 0;
    if ((rc = compaction__file_stats(conn, out_path, &rows, &res->min_us, &res->max_us, eb)) !=
        RC_OK)
        goto out;
    res->rows_out = (uint64_t)rows;
    if (!o->dedup && res->rows_out != res->rows_in) {
        rc = errbuf_set(eb, RC_INTERNAL, "compaction: output has %llu rows, inputs %llu",
                        (unsigned long long)res->rows_out, (unsigned long long)res->rows_in);
        goto out;
    }
out:
    res->n_used = used_count(in, n);
    res->n_skipped = n - res->n_used;
    state_free(&s);
    strbuf_cleanup(&sql);
    return rc;
}
