/*
 * query/special.c — SHOW DATABASES, SHOW TABLES / MEASUREMENTS [FROM db],
 * DESCRIBE / DESC [db.]table (SPEC §4.5).
 *
 * The answers come from the catalog (visible files, schema registry) and
 * the write buffer (keys that hold rows not flushed yet, so a measurement is
 * listed as soon as a write is acknowledged, consistent with fresh reads),
 * plus, for SHOW DATABASES, databases created empty with their marker file
 * `{db}/.arc-database` (§4.10) under a local storage root. The result is
 * produced by DuckDB from a VALUES list built here, so the cursor, the
 * encoders and the column types are the same as for any query.
 *
 * Threads: query threads. No locks of its own.
 */
#include "query/query_internal.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buffer/colbuf.h"
#include "catalog/catalog.h"
#include "storage/storage.h"
#include "util/mem.h"

struct names {
    char (*v)[MEASUREMENT_NAME_MAX + 1];
    size_t n, cap;
};

static void names_add(struct names *ns, const char *s)
{
    for (size_t i = 0; i < ns->n; i++)
        if (!strcmp(ns->v[i], s))
            return;
    if (ns->n == ns->cap) {
        ns->cap = ns->cap ? ns->cap * 2 : 16;
        ns->v = xrealloc(ns->v, ns->cap * sizeof(*ns->v));
    }
    snprintf(ns->v[ns->n++], sizeof(ns->v[0]), "%s", s);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(a, b);
}

static int show_databases(const struct qspecial_ctx *ctx, struct strbuf *out)
{
    struct names ns = {0};
    char(*dbs)[DB_NAME_MAX + 1] = NULL;
    size_t ndb = 0;
    catalog_databases(ctx->cat, &dbs, &ndb);
    for (size_t i = 0; i < ndb; i++)
        names_add(&ns, dbs[i]);
    xfree(dbs);
    if (ctx->cb) {
        struct colbuf_key_size *ks = NULL;
        size_t nk = 0;
        colbuf_key_sizes(ctx->cb, &ks, &nk);
        for (size_t i = 0; i < nk; i++)
            if (ks[i].held_rows > 0)
                names_add(&ns, ks[i].db);
        xfree(ks);
    }
    if (ctx->data_root) {
        DIR *d = opendir(ctx->data_root);
        struct dirent *de;
        while (d && (de = readdir(d)) != NULL) {
            if (!name_is_valid_database(de->d_name, strlen(de->d_name)))
                continue;
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s/.arc-database", ctx->data_root, de->d_name);
            if (access(path, F_OK) == 0)
                names_add(&ns, de->d_name);
        }
        if (d)
            closedir(d);
    }
    qsort(ns.v, ns.n, sizeof(ns.v[0]), cmp_str);

    int rc;
    if (ns.n == 0) {
        rc = strbuf_puts(out, "SELECT CAST(NULL AS VARCHAR) AS \"database\" WHERE false");
    } else {
        rc = strbuf_puts(out, "SELECT \"database\" FROM (VALUES ");
        for (size_t i = 0; rc == RC_OK && i < ns.n; i++) {
            rc = strbuf_puts(out, i ? ", (" : "(");
            if (rc == RC_OK)
                rc = qcheck_append_literal(out, ns.v[i], strlen(ns.v[i]));
            if (rc == RC_OK)
                rc = strbuf_putc(out, ')');
        }
        if (rc == RC_OK)
            rc = strbuf_puts(out, ") AS t(\"database\") ORDER BY \"database\"");
    }
    xfree(ns.v);
    return rc;
}

struct table_row {
    char name[MEASUREMENT_NAME_MAX + 1];
    uint64_t files, bytes;
};

static int cmp_row(const void *a, const void *b)
{
    return strcmp(((const struct table_row *)a)->name, ((const struct table_row *)b)->name);
}

/* storage_path of §4.5 for (db, m). */
static int append_storage_path(const struct qspecial_ctx *ctx, const char *db, const char *m,
                               struct strbuf *sb)
{
    struct strbuf p;
    strbuf_init(&p, 0);
    int rc;
    const char *local = ctx->st ? storage_local_root(ctx->st) : ctx->base_path;
    if (local) {
        rc = strbuf_printf(&p, "%s/%s/%s/", local, db, m);
    } else {
        /* Remote backends: storage.h has no bucket/prefix accessor yet. */
        rc = strbuf_printf(&p, "%s://%s/%s/", storage_backend_name(ctx->st), db, m);
    }
    if (rc == RC_OK)
        rc = qcheck_append_literal(sb, p.data, p.len);
    strbuf_cleanup(&p);
    return rc;
}

static int show_tables(const struct qspecial_ctx *ctx, const char *db, struct strbuf *out)
{
    struct catalog_measurement_info *ms = NULL;
    size_t nm = 0;
    catalog_measurements(ctx->cat, db, &ms, &nm);
    size_t cap = nm + 16, n = 0;
    struct table_row *rows = xcalloc(cap, sizeof(*rows));
    for (size_t i = 0; i < nm; i++) {
        snprintf(rows[n].name, sizeof(rows[n].name), "%s", ms[i].name);
        rows[n].files = ms[i].file_count;
        rows[n].bytes = ms[i].total_bytes;
        n++;
    }
    xfree(ms);
    if (ctx->cb) {
        struct colbuf_key_size *ks = NULL;
        size_t nk = 0;
        colbuf_key_sizes(ctx->cb, &ks, &nk);
        for (size_t i = 0; i < nk; i++) {
            if (strcmp(ks[i].db, db) || ks[i].held_rows == 0)
                continue;
            bool known = false;
            for (size_t j = 0; j < n && !known; j++)
                known = !strcmp(rows[j].name, ks[i].measurement);
            if (known)
                continue;
            if (n == cap) {
                cap *= 2;
                rows = xrealloc(rows, cap * sizeof(*rows));
            }
            memset(&rows[n], 0, sizeof(rows[n]));
            snprintf(rows[n].name, sizeof(rows[n].name), "%s", ks[i].measurement);
            n++;
        }
        xfree(ks);
    }
    qsort(rows, n, sizeof(*rows), cmp_row);

    int rc;
    if (n == 0) {
        rc = strbuf_puts(out, "SELECT CAST(NULL AS VARCHAR) AS \"database\", "
                              "CAST(NULL AS VARCHAR) AS \"table_name\", "
                              "CAST(NULL AS VARCHAR) AS \"storage_path\", "
                              "CAST(NULL AS BIGINT) AS \"file_count\", "
                              "CAST(NULL AS DOUBLE) AS \"total_size_mb\" WHERE false");
    } else {
        rc = strbuf_puts(out, "SELECT \"database\", \"table_name\", \"storage_path\", "
                              "\"file_count\", \"total_size_mb\" FROM (VALUES ");
        for (size_t i = 0; rc == RC_OK && i < n; i++) {
            rc = strbuf_printf(out, "%s(%zu, ", i ? ", " : "", i);
            if (rc == RC_OK)
                rc = qcheck_append_literal(out, db, strlen(db));
            if (rc == RC_OK)
                rc = strbuf_puts(out, ", ");
            if (rc == RC_OK)
                rc = qcheck_append_literal(out, rows[i].name, strlen(rows[i].name));
            if (rc == RC_OK)
                rc = strbuf_puts(out, ", ");
            if (rc == RC_OK)
                rc = append_storage_path(ctx, db, rows[i].name, out);
            double mb = round((double)rows[i].bytes / (1024.0 * 1024.0) * 100.0) / 100.0;
            if (rc == RC_OK)
                rc = strbuf_printf(out, ", CAST(%llu AS BIGINT), CAST(%.2f AS DOUBLE))",
                                   (unsigned long long)rows[i].files, mb);
        }
        if (rc == RC_OK)
            rc = strbuf_puts(out, ") AS t(o, \"database\", \"table_name\", \"storage_path\", "
                                  "\"file_count\", \"total_size_mb\") ORDER BY o");
    }
    xfree(rows);
    return rc;
}

static int describe(const struct qspecial_ctx *ctx, const char *db, const char *table,
                    struct strbuf *out, bool *needs_view, struct errbuf *eb)
{
    struct catalog_column *cols = NULL;
    size_t n = 0;
    catalog_schema_get(ctx->cat, db, table, &cols, &n);
    if (n == 0) {
        struct catalog_file_list fl;
        catalog_files_list(ctx->cat, db, table, INT64_MIN, INT64_MAX, &fl);
        size_t nfiles = fl.n;
        catalog_file_list_free(&fl);
        struct colbuf_key_info ki;
        bool buffered = ctx->cb && colbuf_key_info(ctx->cb, db, table, &ki);
        catalog_columns_free(&cols);
        if (nfiles == 0 && !buffered)
            return errbuf_set(eb, RC_INVALID, "Table not found: %s.%s", db, table);
        *needs_view = true; /* files the catalog has no schema for (reconciled) */
        return RC_OK;
    }
    int rc = strbuf_puts(out, "SELECT column_name, column_type, \"null\" FROM (VALUES "
                              "(0, 'time', 'TIMESTAMP WITH TIME ZONE', 'NO')");
    for (size_t i = 0; rc == RC_OK && i < n; i++) {
        rc = strbuf_printf(out, ", (%zu, ", i + 1);
        if (rc == RC_OK)
            rc = qcheck_append_literal(out, cols[i].name, cols[i].name_len);
        if (rc == RC_OK)
            rc = strbuf_printf(out, ", '%s', 'YES')", col_type_sql(cols[i].type));
    }
    if (rc == RC_OK)
        rc = strbuf_puts(out, ") AS t(o, column_name, column_type, \"null\") ORDER BY o");
    catalog_columns_free(&cols);
    return rc;
}

int qspecial_sql(const struct qspecial_ctx *ctx, const struct qspecial *sp, const char *db,
                 struct strbuf *out, bool *needs_view, struct errbuf *eb)
{
    *needs_view = false;
    int rc;
    switch (sp->kind) {
    case QUERY_SHOW_DATABASES: rc = show_databases(ctx, out); break;
    case QUERY_SHOW_TABLES: rc = show_tables(ctx, db, out); break;
    case QUERY_DESCRIBE: return describe(ctx, db, sp->table, out, needs_view, eb);
    default: return errbuf_set(eb, RC_INTERNAL, "not a special command");
    }
    if (rc != RC_OK)
        return errbuf_set(eb, rc, "special command result too large");
    return RC_OK;
}
