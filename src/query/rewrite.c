/*
 * query/rewrite.c — measurement resolution (SPEC §4.4) and time bounds for
 * file pruning, from DuckDB's own parse tree.
 *
 * DESIGN. engine.c asks DuckDB for `json_serialize_sql(<statement>)`, the
 * parser's tree as JSON. This file walks it:
 *
 *   - every BASE_TABLE node is a table reference; it is a measurement unless
 *     it names a CTE in scope, a DuckDB catalog object (information_schema.*,
 *     pg_catalog.*, duckdb_*), or has three parts (refused);
 *   - CTE scope follows DuckDB's binder (verified): CTE i of a WITH sees CTEs
 *     0..i-1, the statement body sees all of them, a RECURSIVE_CTE_NODE sees
 *     itself; a non-recursive `WITH cpu AS (SELECT * FROM cpu)` reads the
 *     measurement cpu inside;
 *   - each reference carries the parser's byte offset (query_location) of its
 *     name; the lexer (check.c) finds where the name chain ends and checks it
 *     spells the same names. The rewritten SQL is the user's text with each
 *     chain replaced by a parenthesised subquery (engine.c provides it) plus
 *     ` AS "<name>"` when there was no alias, so `cpu.host` still binds. The
 *     rest of the text is untouched, byte for byte (string literals that look
 *     like table names, comments, formatting), so no JSON → SQL round trip
 *     can change a query's meaning.
 *   - time bounds: in a SELECT node whose FROM is a tree of plain tables and
 *     joins (no POSITIONAL / ASOF joins), each top-level AND conjunct of
 *     WHERE of the form `time <op> e`, `e <op> time`, `time BETWEEN a AND b`
 *     (time unqualified when FROM is one table, else qualified by the
 *     table's alias or name) gives a bound on that table's rows. A conjunct
 *     that must hold for every result row lets the table skip files that
 *     cannot satisfy it, whatever the join type. e must be a constant
 *     expression: constants, casts and functions DuckDB declares CONSISTENT;
 *     now()-like functions (value fixed per query, increasing over time) are
 *     accepted only in a lower bound and only in positions where the bound
 *     grows with now() (`now() - INTERVAL ...`, date_trunc(.., now())): the
 *     bound is evaluated just before the query, so its value can only be
 *     smaller than the query's own — the pruned file set is then a superset.
 *     Values of types finer than a microsecond get a 1 µs margin; now()-based
 *     lower bounds a 60 s margin against the wall clock stepping back.
 *
 * JSON: the parse tree nests far deeper than util/json's limit of 64 and
 * carries 64-bit numbers, so this file has its own small read-only parser
 * that keeps every node's raw text span (subtrees are re-emitted verbatim for
 * bound evaluation).
 *
 * Threads: a struct qrewrite belongs to one query.
 */
#include "query/query_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/jsonw.h"
#include "util/mem.h"
#include "util/timeutil.h"

/* ---- a small JSON tree ------------------------------------------------------ */

enum qj_type { QJ_NULL = 0, QJ_BOOL, QJ_NUM, QJ_STR, QJ_ARR, QJ_OBJ };

struct qj {
    enum qj_type t;
    size_t start, end;  /* raw span in the source */
    const char *s;      /* STR: decoded value (arena, NUL-terminated) */
    size_t n;           /* STR: length; ARR/OBJ: element count */
    struct qj **items;  /* ARR/OBJ values */
    const char **keys;  /* OBJ keys (decoded) */
    size_t *key_starts; /* OBJ: raw span start of each key (for re-emission) */
    bool b;
};

#define QJ_MAX_DEPTH 4000
#define NOW_MARGIN_US (60 * US_PER_SEC)
#define ARENA_BLOCK (64 * 1024)

struct arena_blk {
    struct arena_blk *next;
    size_t used, cap;
    max_align_t data[];
};

struct qjdoc {
    struct arena_blk *blocks;
    struct qj *root;
    const char *src; /* the parsed text (owned by the caller) */
};

static void *arena_alloc(struct qjdoc *d, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    struct arena_blk *b = d->blocks;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
        b = xmalloc(sizeof(*b) + cap);
        b->cap = cap;
        b->used = 0;
        b->next = d->blocks;
        d->blocks = b;
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    return p;
}

static void qjdoc_free(struct qjdoc *d)
{
    if (!d)
        return;
    struct arena_blk *b = d->blocks;
    while (b) {
        struct arena_blk *next = b->next;
        xfree(b);
        b = next;
    }
    xfree(d);
}

struct qjp {
    struct qjdoc *d;
    const char *s;
    size_t n, pos;
    int depth;
};

static void qjp_ws(struct qjp *p)
{
    while (p->pos < p->n && (p->s[p->pos] == ' ' || p->s[p->pos] == '\n' || p->s[p->pos] == '\r' ||
                             p->s[p->pos] == '\t'))
        p->pos++;
}

static int hexv(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static size_t put_utf8(char *o, unsigned long cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Parses a string at p->pos (the opening quote); decoded into the arena. */
static bool qjp_string(struct qjp *p, const char **out, size_t *out_n)
{
    size_t i = p->pos + 1;
    size_t close = i;
    while (close < p->n && p->s[close] != '"') {
        if (p->s[close] == '\\')
            close++;
        close++;
    }
    if (close >= p->n)
        return false;
    /* Decoded length <= raw length. */
    char *o = arena_alloc(p->d, close - i + 1);
    size_t k = 0;
    while (i < close) {
        char c = p->s[i];
        if (c != '\\') {
            o[k++] = c;
            i++;
            continue;
        }
        char e = p->s[i + 1];
        i += 2;
        switch (e) {
        case '"': o[k++] = '"'; break;
        case '\\': o[k++] = '\\'; break;
        case '/': o[k++] = '/'; break;
        case 'b': o[k++] = '\b'; break;
        case 'f': o[k++] = '\f'; break;
        case 'n': o[k++] = '\n'; break;
        case 'r': o[k++] = '\r'; break;
        case 't': o[k++] = '\t'; break;
        case 'u': {
            if (i + 4 > close)
                return false;
            unsigned long cp = 0;
            for (int j = 0; j < 4; j++) {
                int h = hexv(p->s[i + j]);
                if (h < 0)
                    return false;
                cp = cp * 16 + (unsigned long)h;
            }
            i += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF && i + 6 <= close && p->s[i] == '\\' &&
                p->s[i + 1] == 'u') {
                unsigned long lo = 0;
                bool ok = true;
                for (int j = 0; j < 4; j++) {
                    int h = hexv(p->s[i + 2 + j]);
                    if (h < 0)
                        ok = false;
                    lo = lo * 16 + (unsigned long)(h < 0 ? 0 : h);
                }
                if (ok && lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    i += 6;
                }
            }
            /* \uXXXX takes 6 raw bytes and at most 4 decoded ones. */
            k += put_utf8(o + k, cp);
            break;
        }
        default: return false;
        }
    }
    o[k] = '\0';
    *out = o;
    *out_n = k;
    p->pos = close + 1;
    return true;
}

struct qj_list {
    struct qj **items;
    const char **keys;
    size_t *key_starts;
    size_t n, cap;
};

static void list_push(struct qj_list *l, const char *key, size_t key_start, struct qj *v)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->items = xrealloc(l->items, l->cap * sizeof(*l->items));
        l->keys = xrealloc(l->keys, l->cap * sizeof(*l->keys));
        l->key_starts = xrealloc(l->key_starts, l->cap * sizeof(*l->key_starts));
    }
    l->items[l->n] = v;
    l->keys[l->n] = key;
    l->key_starts[l->n] = key_start;
    l->n++;
}

static struct qj *qjp_value(struct qjp *p);

static bool qjp_finish_list(struct qjp *p, struct qj *v, struct qj_list *l, bool obj)
{
    v->n = l->n;
    v->items = arena_alloc(p->d, (l->n ? l->n : 1) * sizeof(*v->items));
    if (l->n)
        memcpy(v->items, l->items, l->n * sizeof(*v->items));
    if (obj) {
        v->keys = arena_alloc(p->d, (l->n ? l->n : 1) * sizeof(*v->keys));
        v->key_starts = arena_alloc(p->d, (l->n ? l->n : 1) * sizeof(*v->key_starts));
        if (l->n) {
            memcpy(v->keys, l->keys, l->n * sizeof(*v->keys));
            memcpy(v->key_starts, l->key_starts, l->n * sizeof(*v->key_starts));
        }
    }
    xfree(l->items);
    xfree(l->keys);
    xfree(l->key_starts);
    return true;
}

static struct qj *qjp_value(struct qjp *p)
{
    qjp_ws(p);
    if (p->pos >= p->n || ++p->depth > QJ_MAX_DEPTH)
        return NULL;
    struct qj *v = arena_alloc(p->d, sizeof(*v));
    memset(v, 0, sizeof(*v));
    v->start = p->pos;
    char c = p->s[p->pos];
    if (c == '{' || c == '[') {
        bool obj = c == '{';
        v->t = obj ? QJ_OBJ : QJ_ARR;
        p->pos++;
        struct qj_list l = {0};
        qjp_ws(p);
        if (p->pos < p->n && p->s[p->pos] == (obj ? '}' : ']')) {
            p->pos++;
        } else {
            for (;;) {
                const char *key = NULL;
                size_t key_start = 0;
                if (obj) {
                    qjp_ws(p);
                    size_t kn;
                    key_start = p->pos;
                    if (p->pos >= p->n || p->s[p->pos] != '"' || !qjp_string(p, &key, &kn))
                        goto fail;
                    qjp_ws(p);
                    if (p->pos >= p->n || p->s[p->pos] != ':')
                        goto fail;
                    p->pos++;
                }
                struct qj *item = qjp_value(p);
                if (!item)
                    goto fail;
                list_push(&l, key, key_start, item);
                qjp_ws(p);
                if (p->pos < p->n && p->s[p->pos] == ',') {
                    p->pos++;
                    continue;
                }
                if (p->pos < p->n && p->s[p->pos] == (obj ? '}' : ']')) {
                    p->pos++;
                    break;
                }
                goto fail;
            }
        }
        qjp_finish_list(p, v, &l, obj);
        goto done;
    fail:
        xfree(l.items);
        xfree(l.keys);
        xfree(l.key_starts);
        return NULL;
    } else if (c == '"') {
        v->t = QJ_STR;
        if (!qjp_string(p, &v->s, &v->n))
            return NULL;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        v->t = QJ_NUM;
        while (p->pos < p->n && strchr("+-0123456789.eE", p->s[p->pos]))
            p->pos++;
    } else if (p->n - p->pos >= 4 && !memcmp(p->s + p->pos, "true", 4)) {
        v->t = QJ_BOOL;
        v->b = true;
        p->pos += 4;
    } else if (p->n - p->pos >= 5 && !memcmp(p->s + p->pos, "false", 5)) {
        v->t = QJ_BOOL;
        p->pos += 5;
    } else if (p->n - p->pos >= 4 && !memcmp(p->s + p->pos, "null", 4)) {
        v->t = QJ_NULL;
        p->pos += 4;
    } else {
        return NULL;
    }
done:
    v->end = p->pos;
    p->depth--;
    return v;
}

static struct qjdoc *qj_parse(const char *s, size_t n)
{
    struct qjdoc *d = xcalloc(1, sizeof(*d));
    d->src = s;
    struct qjp p = {.d = d, .s = s, .n = n};
    d->root = qjp_value(&p);
    qjp_ws(&p);
    if (!d->root || p.pos != n) {
        qjdoc_free(d);
        return NULL;
    }
    return d;
}

static const struct qj *qj_get(const struct qj *v, const char *key)
{
    if (!v || v->t != QJ_OBJ)
        return NULL;
    for (size_t i = 0; i < v->n; i++)
        if (!strcmp(v->keys[i], key))
            return v->items[i];
    return NULL;
}

static const struct qj *qj_at(const struct qj *v, size_t i)
{
    if (!v || v->t != QJ_ARR || i >= v->n)
        return NULL;
    return v->items[i];
}

static size_t qj_len(const struct qj *v)
{
    return v && v->t == QJ_ARR ? v->n : 0;
}

static const char *qj_str(const struct qj *v)
{
    return v && v->t == QJ_STR ? v->s : NULL;
}

/* String member or "" when absent. */
static const char *qj_gets(const struct qj *v, const char *key)
{
    const char *s = qj_str(qj_get(v, key));
    return s ? s : "";
}

/* Non-negative integer of a number node (false for 2^64 - 1, DuckDB's "no
 * location", and anything that does not fit). */
static bool qj_size(const struct qj *v, const char *src, size_t *out)
{
    if (!v || v->t != QJ_NUM || v->end - v->start > 18)
        return false;
    size_t x = 0;
    for (size_t i = v->start; i < v->end; i++) {
        if (src[i] < '0' || src[i] > '9')
            return false;
        x = x * 10 + (size_t)(src[i] - '0');
    }
    *out = x;
    return true;
}

/* ---- consistent functions ------------------------------------------------------ */

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void qfuncs_free(struct qfuncs *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++)
        xfree(f->names[i]);
    xfree(f->names);
    f->names = NULL;
    f->n = 0;
}

bool qfuncs_has(const struct qfuncs *f, const char *name)
{
    if (!f || !f->n)
        return false;
    return bsearch(&name, f->names, f->n, sizeof(char *), cmp_name) != NULL;
}

/* now()-like: the value is fixed for one query and never decreases. */
static bool is_now_like(const char *name)
{
    static const char *const names[] = {"now",
                                        "get_current_timestamp",
                                        "transaction_timestamp",
                                        "current_date",
                                        "today",
                                        "current_timestamp",
                                        NULL};
    for (int i = 0; names[i]; i++)
        if (!strcasecmp(name, names[i]))
            return true;
    return false;
}

/* Table functions a query may call: the read-only ones of DuckDB 1.5.6
 * (`SELECT function_name FROM duckdb_functions() WHERE function_type =
 * 'table'`). Left out on purpose: query, query_table and
 * json_execute_serialized_sql (run SQL text this check never sees),
 * arrow_scan[_dumb] (dereference raw pointers), enable/disable_logging,
 * truncate_duckdb_logs, enable/disable_profiling (write files, change global
 * state even with the configuration locked), enable/disable/check_peg_parser
 * (switch the parser), checkpoint, force_checkpoint, seq_scan (internal).
 * Review this list when upgrading DuckDB. Sorted for bsearch. */
static const char *const table_functions[] = {
    "duckdb_approx_database_count",
    "duckdb_columns",
    "duckdb_connection_count",
    "duckdb_constraints",
    "duckdb_coordinate_systems",
    "duckdb_databases",
    "duckdb_dependencies",
    "duckdb_extensions",
    "duckdb_external_file_cache",
    "duckdb_functions",
    "duckdb_indexes",
    "duckdb_keywords",
    "duckdb_log_contexts",
    "duckdb_logs",
    "duckdb_logs_parsed",
    "duckdb_memory",
    "duckdb_optimizers",
    "duckdb_prepared_statements",
    "duckdb_profiling_settings",
    "duckdb_schemas",
    "duckdb_secret_types",
    "duckdb_secrets",
    "duckdb_sequences",
    "duckdb_settings",
    "duckdb_table_sample",
    "duckdb_tables",
    "duckdb_temporary_files",
    "duckdb_types",
    "duckdb_variables",
    "duckdb_views",
    "generate_series",
    "glob",
    "histogram",
    "histogram_values",
    "icu_calendar_names",
    "json_each",
    "json_tree",
    "parquet_bloom_probe",
    "parquet_file_metadata",
    "parquet_full_metadata",
    "parquet_kv_metadata",
    "parquet_metadata",
    "parquet_scan",
    "parquet_schema",
    "pg_timezone_names",
    "pragma_collations",
    "pragma_database_size",
    "pragma_metadata_info",
    "pragma_platform",
    "pragma_show",
    "pragma_storage_info",
    "pragma_table_info",
    "pragma_user_agent",
    "pragma_version",
    "range",
    "read_blob",
    "read_csv",
    "read_csv_auto",
    "read_duckdb",
    "read_json",
    "read_json_auto",
    "read_json_objects",
    "read_json_objects_auto",
    "read_ndjson",
    "read_ndjson_auto",
    "read_ndjson_objects",
    "read_parquet",
    "read_text",
    "repeat",
    "repeat_row",
    "sniff_csv",
    "sql_auto_complete",
    "summary",
    "test_all_types",
    "test_vector_types",
    "unnest",
    "which_secret",
};

static bool table_function_allowed(const char *name)
{
    char low[64];
    size_t n = strlen(name);
    if (n >= sizeof(low))
        return false;
    for (size_t i = 0; i <= n; i++)
        low[i] = (char)tolower((unsigned char)name[i]);
    const char *key = low;
    return bsearch(&key, table_functions, sizeof(table_functions) / sizeof(table_functions[0]),
                   sizeof(table_functions[0]), cmp_name) != NULL;
}

/* ---- the walk -------------------------------------------------------------------- */

struct scope {
    const struct scope *up;
    const struct qj *map; /* cte_map.map array */
    size_t visible;       /* entries [0, visible) are in scope */
    const char *self;     /* RECURSIVE_CTE_NODE name */
};

static bool in_scope(const struct scope *sc, const char *name)
{
    for (; sc; sc = sc->up) {
        if (sc->self && !strcasecmp(sc->self, name))
            return true;
        for (size_t i = 0; i < sc->visible && sc->map; i++) {
            const char *k = qj_gets(qj_at(sc->map, i), "key");
            if (!strcasecmp(k, name))
                return true;
        }
    }
    return false;
}

struct walk {
    struct qrewrite *rw;
    const char *src;            /* JSON text */
    const struct qj *bare_node; /* BASE_TABLE of a SUMMARIZE tbl */
    struct errbuf *eb;
};

static void add_bound(struct qref *r, const struct qj *expr, enum qbound_kind kind, bool now_dep)
{
    r->bounds = xrealloc(r->bounds, (r->nbounds + 1) * sizeof(*r->bounds));
    struct qbound *b = &r->bounds[r->nbounds++];
    memset(b, 0, sizeof(*b));
    b->expr = expr;
    b->kind = kind;
    b->now_dependent = now_dep;
}

static size_t meas_index(struct qrewrite *rw, const char *db, const char *name)
{
    for (size_t i = 0; i < rw->nmeas; i++)
        if (!strcmp(rw->meas[i].db, db) && !strcmp(rw->meas[i].name, name))
            return i;
    if (rw->nmeas == rw->meas_cap) {
        rw->meas_cap = rw->meas_cap ? rw->meas_cap * 2 : 4;
        rw->meas = xrealloc(rw->meas, rw->meas_cap * sizeof(*rw->meas));
    }
    struct qmeas *m = &rw->meas[rw->nmeas];
    memset(m, 0, sizeof(*m));
    memcpy(m->db, db, strlen(db) + 1);
    memcpy(m->name, name, strlen(name) + 1);
    return rw->nmeas++;
}

/* Lexes the name chain at loc and checks it spells parts[0..nparts). */
static bool locate_chain(const struct qrewrite *rw, size_t loc, const char *const *parts,
                         int nparts, size_t *end)
{
    struct qlex lx;
    struct qlex_tok t;
    qlex_init(&lx, rw->text, rw->len);
    lx.pos = loc;
    char buf[MEASUREMENT_NAME_MAX + 2];
    for (int i = 0; i < nparts; i++) {
        if (i > 0) {
            qlex_next(&lx, &t);
            if (!qlex_is_punct(&lx, &t, '.'))
                return false;
        }
        qlex_next(&lx, &t);
        if (i == 0 && t.start != loc)
            return false;
        if ((t.kind != QTOK_WORD && t.kind != QTOK_QIDENT) ||
            !qlex_ident(&lx, &t, buf, sizeof(buf)))
            return false;
        if (strcmp(buf, parts[i]))
            return false;
        *end = t.end;
    }
    return true;
}

static struct qref *ref_push(struct qrewrite *rw)
{
    if (rw->nrefs == rw->refs_cap) {
        rw->refs_cap = rw->refs_cap ? rw->refs_cap * 2 : 4;
        rw->refs = xrealloc(rw->refs, rw->refs_cap * sizeof(*rw->refs));
        rw->no_prune = xrealloc(rw->no_prune, rw->refs_cap * sizeof(*rw->no_prune));
    }
    struct qref *r = &rw->refs[rw->nrefs];
    memset(r, 0, sizeof(*r));
    rw->no_prune[rw->nrefs] = false;
    rw->nrefs++;
    return r;
}

static int base_table(struct walk *w, const struct qj *node, const struct scope *sc)
{
    struct qrewrite *rw = w->rw;
    const char *cat = qj_gets(node, "catalog_name");
    const char *schema = qj_gets(node, "schema_name");
    const char *table = qj_gets(node, "table_name");

    if (*cat)
        return errbuf_set(w->eb, RC_INVALID,
                          "three-part table names are not supported: %.64s.%.64s.%.128s", cat,
                          schema, table);
    if (*schema && (!strcasecmp(schema, "information_schema") || !strcasecmp(schema, "pg_catalog")))
        return RC_OK;
    if (!*schema && in_scope(sc, table))
        return RC_OK;
    if (!*schema && !strncasecmp(table, "duckdb_", 7))
        return RC_OK;
    size_t loc = SIZE_MAX, end = 0;
    if (!qj_size(qj_get(node, "query_location"), w->src, &loc) || loc >= rw->len)
        loc = SIZE_MAX;
    if (!*schema && loc != SIZE_MAX) {
        /* FROM 'file.parquet': DuckDB's replacement scan reads a file, as a
         * table function would; external access rules apply to it. */
        struct qlex lx;
        struct qlex_tok t;
        qlex_init(&lx, rw->text, rw->len);
        lx.pos = loc;
        qlex_next(&lx, &t);
        if (t.kind == QTOK_STRING && t.start == loc)
            return RC_OK;
    }

    const char *db = *schema ? schema : rw->default_db;
    if (!name_is_valid_database(db, strlen(db)))
        return errbuf_set(w->eb, RC_INVALID,
                          "invalid database name: %.80s (letters, digits, '_' and '-', starting "
                          "with a letter, at most %d characters)",
                          db, DB_NAME_MAX);
    if (!name_is_valid_measurement(table, strlen(table)))
        return errbuf_set(w->eb, RC_INVALID,
                          "invalid measurement name: %.140s (letters, digits, '_' and '-', "
                          "starting with a letter, at most %d characters)",
                          table, MEASUREMENT_NAME_MAX);

    const char *parts[2];
    int nparts = 0;
    if (*schema)
        parts[nparts++] = schema;
    parts[nparts++] = table;
    if (loc == SIZE_MAX || !locate_chain(rw, loc, parts, nparts, &end))
        return errbuf_set(w->eb, RC_INVALID,
                          "cannot resolve the table reference %s%s%s in this query form",
                          *schema ? schema : "", *schema ? "." : "", table);

    /* The same text position twice (a construct DuckDB expands by copying
     * a subtree): one splice; pruning off for safety. */
    for (size_t i = 0; i < rw->nrefs; i++) {
        if (rw->refs[i].loc == loc) {
            rw->no_prune[i] = true;
            return RC_OK;
        }
    }

    struct qref *r = ref_push(rw);
    r->node = node;
    r->loc = loc;
    r->end = end;
    r->has_alias = *qj_gets(node, "alias") != '\0';
    r->bare = node == w->bare_node;
    r->meas = meas_index(rw, db, table);
    r->from_us = INT64_MIN;
    r->to_us = INT64_MAX;
    if (qj_len(qj_get(node, "column_name_alias")) > 0)
        rw->no_prune[rw->nrefs - 1] = true; /* columns renamed: `time` may not be time */
    return RC_OK;
}

/* ---- time bounds ------------------------------------------------------------------ */

/* A table of the FROM tree of one SELECT node. */
struct from_entry {
    const char *binding; /* alias, else table / function name; "" if none */
    long ref;            /* index into rw->refs, -1 if not a measurement */
};

struct from_list {
    struct from_entry e[32];
    size_t n;
    bool ok; /* false: unsupported join kind or too many tables */
};

static long ref_of_node(const struct qrewrite *rw, const struct qj *node)
{
    for (size_t i = 0; i < rw->nrefs; i++)
        if (rw->refs[i].node == node)
            return (long)i;
    return -1;
}

static void from_collect(const struct qrewrite *rw, const struct qj *t, struct from_list *fl)
{
    if (!fl->ok || !t)
        return;
    const char *type = qj_gets(t, "type");
    if (!strcmp(type, "JOIN")) {
        const char *rt = qj_gets(t, "ref_type");
        /* POSITIONAL pairs rows by position and ASOF picks the nearest row:
         * removing rows from a file changes which rows pair up. */
        if (strcmp(rt, "REGULAR") && strcmp(rt, "CROSS") && strcmp(rt, "NATURAL")) {
            fl->ok = false;
            return;
        }
        from_collect(rw, qj_get(t, "left"), fl);
        from_collect(rw, qj_get(t, "right"), fl);
        return;
    }
    if (fl->n == sizeof(fl->e) / sizeof(fl->e[0])) {
        fl->ok = false;
        return;
    }
    struct from_entry *e = &fl->e[fl->n++];
    e->ref = -1;
    e->binding = qj_gets(t, "alias");
    if (!strcmp(type, "BASE_TABLE")) {
        e->ref = ref_of_node(rw, t);
        if (!*e->binding)
            e->binding = qj_gets(t, "table_name");
    } else if (!strcmp(type, "TABLE_FUNCTION") && !*e->binding) {
        e->binding = qj_gets(qj_get(t, "function"), "function_name");
    }
}

/* If e is a reference to the `time` column of one measurement of the FROM
 * list, returns that ref's index, else -1. */
static long time_ref(const struct qj *e, const struct from_list *fl)
{
    if (strcmp(qj_gets(e, "class"), "COLUMN_REF"))
        return -1;
    const struct qj *names = qj_get(e, "column_names");
    size_t n = qj_len(names);
    if (n == 1) {
        if (strcasecmp(qj_str(qj_at(names, 0)) ? qj_str(qj_at(names, 0)) : "", "time"))
            return -1;
        return fl->n == 1 ? fl->e[0].ref : -1;
    }
    if (n == 2) {
        const char *q = qj_str(qj_at(names, 0));
        const char *c = qj_str(qj_at(names, 1));
        if (!q || !c || strcasecmp(c, "time"))
            return -1;
        long found = -1;
        int matches = 0;
        for (size_t i = 0; i < fl->n; i++) {
            if (!strcasecmp(fl->e[i].binding, q)) {
                matches++;
                found = fl->e[i].ref;
            }
        }
        return matches == 1 ? found : -1;
    }
    return -1;
}

/* True if expression e is constant for the query (see the file comment).
 * monotone: e's value must not decrease when now() increases, for any
 * now()-like call at this position. */
static bool const_expr(const struct qrewrite *rw, const struct qj *e, bool monotone, bool *now_dep,
                       int depth)
{
    if (!e || depth > 64)
        return false;
    const char *cls = qj_gets(e, "class");
    if (!strcmp(cls, "CONSTANT"))
        return true;
    if (!strcmp(cls, "CAST"))
        return const_expr(rw, qj_get(e, "child"), monotone, now_dep, depth + 1);
    if (strcmp(cls, "FUNCTION"))
        return false;
    const char *name = qj_gets(e, "function_name");
    const struct qj *kids = qj_get(e, "children");
    size_t nk = qj_len(kids);
    if (*qj_gets(e, "schema") || *qj_gets(e, "catalog"))
        return false;
    const struct qj *filter = qj_get(e, "filter");
    if ((filter && filter->t != QJ_NULL) || qj_len(qj_get(qj_get(e, "order_bys"), "orders")) ||
        (qj_get(e, "distinct") && qj_get(e, "distinct")->b))
        return false;
    if (is_now_like(name)) {
        if (nk != 0 || !monotone)
            return false;
        *now_dep = true;
        return true;
    }
    if (!qfuncs_has(rw->funcs, name))
        return false;
    for (size_t i = 0; i < nk; i++) {
        bool m = false;
        if (!strcmp(name, "+"))
            m = monotone;
        else if (!strcmp(name, "-") && nk == 2 && i == 0)
            m = monotone;
        else if ((!strcmp(name, "date_trunc") || !strcmp(name, "time_bucket")) && nk == 2 && i == 1)
            m = monotone;
        if (!const_expr(rw, qj_at(kids, i), m, now_dep, depth + 1))
            return false;
    }
    return true;
}

static void try_bound(struct qrewrite *rw, long ref, const struct qj *expr, enum qbound_kind kind)
{
    if (ref < 0 || rw->no_prune[ref])
        return;
    bool now_dep = false;
    if (!const_expr(rw, expr, true, &now_dep, 0))
        return;
    if (now_dep && kind != QB_GE && kind != QB_GT)
        return;
    add_bound(&rw->refs[ref], expr, kind, now_dep);
}

static enum qbound_kind flip(enum qbound_kind k)
{
    switch (k) {
    case QB_GE: return QB_LE;
    case QB_GT: return QB_LT;
    case QB_LE: return QB_GE;
    case QB_LT: return QB_GT;
    default: return k;
    }
}

static void conjunct(struct qrewrite *rw, const struct qj *c, const struct from_list *fl, int depth)
{
    if (!c || depth > 64)
        return;
    const char *cls = qj_gets(c, "class");
    const char *type = qj_gets(c, "type");
    if (!strcmp(cls, "CONJUNCTION") && !strcmp(type, "CONJUNCTION_AND")) {
        const struct qj *kids = qj_get(c, "children");
        for (size_t i = 0; i < qj_len(kids); i++)
            conjunct(rw, qj_at(kids, i), fl, depth + 1);
        return;
    }
    if (!strcmp(cls, "BETWEEN") && !strcmp(type, "COMPARE_BETWEEN")) {
        long r = time_ref(qj_get(c, "input"), fl);
        try_bound(rw, r, qj_get(c, "lower"), QB_GE);
        try_bound(rw, r, qj_get(c, "upper"), QB_LE);
        return;
    }
    if (strcmp(cls, "COMPARISON"))
        return;
    enum qbound_kind k;
    if (!strcmp(type, "COMPARE_EQUAL"))
        k = QB_EQ;
    else if (!strcmp(type, "COMPARE_GREATERTHAN"))
        k = QB_GT;
    else if (!strcmp(type, "COMPARE_GREATERTHANOREQUALTO"))
        k = QB_GE;
    else if (!strcmp(type, "COMPARE_LESSTHAN"))
        k = QB_LT;
    else if (!strcmp(type, "COMPARE_LESSTHANOREQUALTO"))
        k = QB_LE;
    else
        return;
    const struct qj *l = qj_get(c, "left"), *r = qj_get(c, "right");
    long ref = time_ref(l, fl);
    if (ref >= 0) {
        try_bound(rw, ref, r, k);
        return;
    }
    ref = time_ref(r, fl);
    if (ref >= 0)
        try_bound(rw, ref, l, flip(k));
}

static void select_bounds(struct qrewrite *rw, const struct qj *node)
{
    const struct qj *where = qj_get(node, "where_clause");
    if (!where || where->t != QJ_OBJ)
        return;
    struct from_list fl;
    fl.n = 0;
    fl.ok = true;
    from_collect(rw, qj_get(node, "from_table"), &fl);
    if (!fl.ok || fl.n == 0)
        return;
    conjunct(rw, where, &fl, 0);
}

/* ---- the walk -------------------------------------------------------------------- */

static int walk(struct walk *w, const struct qj *v, const struct scope *sc, int depth);

static int walk_members(struct walk *w, const struct qj *v, const struct scope *sc, int depth,
                        const char *skip)
{
    for (size_t i = 0; i < v->n; i++) {
        if (skip && v->keys && !strcmp(v->keys[i], skip))
            continue;
        int rc = walk(w, v->items[i], sc, depth + 1);
        if (rc != RC_OK)
            return rc;
    }
    return RC_OK;
}

/* SUMMARIZE cpu / DESCRIBE-like forms: a SHOW_REF whose query is a
 * synthetic SELECT * FROM <table> (the star has no location). */
static const struct qj *show_bare_table(const struct qj *show, const char *src)
{
    const struct qj *q = qj_get(show, "query");
    if (!q || strcmp(qj_gets(q, "type"), "SELECT_NODE"))
        return NULL;
    const struct qj *star = qj_at(qj_get(q, "select_list"), 0);
    size_t loc;
    if (!star || strcmp(qj_gets(star, "class"), "STAR") ||
        qj_size(qj_get(star, "query_location"), src, &loc))
        return NULL;
    const struct qj *ft = qj_get(q, "from_table");
    if (!ft || strcmp(qj_gets(ft, "type"), "BASE_TABLE"))
        return NULL;
    return ft;
}

static int walk(struct walk *w, const struct qj *v, const struct scope *sc, int depth)
{
    if (!v || (v->t != QJ_OBJ && v->t != QJ_ARR))
        return RC_OK;
    if (depth > QJ_MAX_DEPTH)
        return errbuf_set(w->eb, RC_INVALID, "query is nested too deeply");
    if (v->t == QJ_ARR)
        return walk_members(w, v, sc, depth, NULL);

    const char *type = qj_gets(v, "type");
    const struct qj *cte_map = qj_get(v, "cte_map");
    if (cte_map && cte_map->t == QJ_OBJ) {
        /* A query node: CTE i sees CTEs before it; the body sees all. */
        const struct qj *map = qj_get(cte_map, "map");
        size_t n = qj_len(map);
        for (size_t i = 0; i < n; i++) {
            struct scope s = {.up = sc, .map = map, .visible = i};
            int rc = walk(w, qj_get(qj_at(map, i), "value"), &s, depth + 1);
            if (rc != RC_OK)
                return rc;
        }
        struct scope body = {.up = sc, .map = map, .visible = n};
        if (!strcmp(type, "RECURSIVE_CTE_NODE"))
            body.self = qj_gets(v, "cte_name");
        int rc = walk_members(w, v, &body, depth, "cte_map");
        if (rc != RC_OK)
            return rc;
        if (!strcmp(type, "SELECT_NODE"))
            select_bounds(w->rw, v);
        return RC_OK;
    }
    if (!strcmp(type, "BASE_TABLE") && qj_get(v, "table_name"))
        return base_table(w, v, sc);
    if (!strcmp(type, "TABLE_FUNCTION")) {
        const char *fn = qj_gets(qj_get(v, "function"), "function_name");
        if (!table_function_allowed(fn))
            return errbuf_set(w->eb, RC_INVALID, "table function %.64s is not allowed in queries",
                              fn);
    }
    if (!strcmp(type, "SHOW_REF")) {
        const struct qj *bare = show_bare_table(v, w->src);
        if (bare)
            w->bare_node = bare;
    }
    return walk_members(w, v, sc, depth, NULL);
}

int qrewrite_analyze(struct qrewrite *rw, const char *text, size_t len, const char *json,
                     size_t json_len, const char *default_db, const struct qfuncs *funcs,
                     struct errbuf *eb)
{
    memset(rw, 0, sizeof(*rw));
    rw->text = text;
    rw->len = len;
    rw->default_db = default_db;
    rw->funcs = funcs;
    rw->doc = qj_parse(json, json_len);
    if (!rw->doc)
        return errbuf_set(eb, RC_INTERNAL, "cannot read DuckDB's parse tree");
    const struct qj *root = rw->doc->root;
    const struct qj *stmts = qj_get(root, "statements");
    if (qj_len(stmts) != 1)
        return errbuf_set(eb, RC_INVALID, "exactly one statement is allowed");
    struct walk w = {.rw = rw, .src = json, .eb = eb};
    return walk(&w, qj_get(qj_at(stmts, 0), "node"), NULL, 0);
}

void qrewrite_cleanup(struct qrewrite *rw)
{
    if (!rw)
        return;
    for (size_t i = 0; i < rw->nrefs; i++)
        xfree(rw->refs[i].bounds);
    xfree(rw->refs);
    xfree(rw->no_prune);
    xfree(rw->meas);
    qjdoc_free(rw->doc);
    memset(rw, 0, sizeof(*rw));
}

/* ---- evaluation ------------------------------------------------------------------ */

size_t qrewrite_bound_count(const struct qrewrite *rw)
{
    size_t n = 0;
    for (size_t i = 0; i < rw->nrefs; i++)
        n += rw->refs[i].nbounds;
    return n;
}

/* Re-emits object e verbatim except its "alias", which becomes alias. */
static int emit_aliased(struct strbuf *sb, const char *src, const struct qj *e, const char *alias)
{
    int rc = strbuf_putc(sb, '{');
    bool first = true;
    for (size_t i = 0; rc == RC_OK && i < e->n; i++) {
        if (!strcmp(e->keys[i], "alias"))
            continue;
        if (!first)
            rc = strbuf_putc(sb, ',');
        first = false;
        if (rc == RC_OK)
            rc = strbuf_append(sb, src + e->key_starts[i], e->items[i]->end - e->key_starts[i]);
    }
    if (rc == RC_OK)
        rc = strbuf_printf(sb, "%s\"alias\":\"%s\"}", first ? "" : ",", alias);
    return rc;
}

int qrewrite_eval_json(const struct qrewrite *rw, const char *tpl_head, const char *tpl_tail,
                       struct strbuf *sb)
{
    int rc = strbuf_puts(sb, tpl_head);
    size_t k = 0;
    for (size_t i = 0; rc == RC_OK && i < rw->nrefs; i++) {
        for (size_t j = 0; rc == RC_OK && j < rw->refs[i].nbounds; j++) {
            char alias[32];
            snprintf(alias, sizeof(alias), "c%zu", k);
            if (k++ > 0)
                rc = strbuf_putc(sb, ',');
            if (rc == RC_OK)
                rc = emit_aliased(sb, rw->doc->src, rw->refs[i].bounds[j].expr, alias);
        }
    }
    if (rc == RC_OK)
        rc = strbuf_puts(sb, tpl_tail);
    return rc;
}

void qrewrite_set_value(struct qrewrite *rw, size_t idx, bool valid, bool exact, int64_t value_us)
{
    size_t k = 0;
    for (size_t i = 0; i < rw->nrefs; i++) {
        for (size_t j = 0; j < rw->refs[i].nbounds; j++, k++) {
            if (k == idx) {
                rw->refs[i].bounds[j].evaluated = valid;
                rw->refs[i].bounds[j].exact = exact;
                rw->refs[i].bounds[j].value_us = value_us;
                return;
            }
        }
    }
}

static int64_t sat_add(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

void qrewrite_compute_ranges(struct qrewrite *rw, bool pruning)
{
    for (size_t i = 0; i < rw->nrefs; i++) {
        struct qref *r = &rw->refs[i];
        r->from_us = INT64_MIN;
        r->to_us = INT64_MAX;
        r->empty_range = false;
        if (!pruning || rw->no_prune[i])
            continue;
        for (size_t j = 0; j < r->nbounds; j++) {
            const struct qbound *b = &r->bounds[j];
            if (!b->evaluated)
                continue;
            /* [from, to) must hold every row the predicate can accept.
             * Exact values (types of microsecond precision or coarser)
             * need no margin; a nanosecond value may have been rounded by
             * up to 1 µs either way. */
            int64_t m = b->exact ? 0 : 1;
            int64_t lo = sat_add(b->value_us, -m);
            /* now()-based lower bounds: a margin against the wall clock
             * stepping back between our evaluation and the query's. */
            if (b->now_dependent)
                lo = sat_add(lo, -NOW_MARGIN_US);
            int64_t hi = sat_add(b->value_us, b->kind == QB_LT ? m : m + 1);
            switch (b->kind) {
            case QB_GE:
            case QB_GT:
                if (lo > r->from_us)
                    r->from_us = lo;
                break;
            case QB_LE:
            case QB_LT:
                if (hi < r->to_us)
                    r->to_us = hi;
                break;
            case QB_EQ:
                if (lo > r->from_us)
                    r->from_us = lo;
                if (hi < r->to_us)
                    r->to_us = hi;
                break;
            }
        }
        if (r->from_us >= r->to_us)
            r->empty_range = true;
    }
}

/* ---- splicing -------------------------------------------------------------------- */

static int cmp_loc(const void *a, const void *b)
{
    const struct qref *x = *(const struct qref *const *)a, *y = *(const struct qref *const *)b;
    return x->loc < y->loc ? -1 : x->loc > y->loc;
}

int qrewrite_splice(const struct qrewrite *rw, qrewrite_view_fn view, void *ctx, struct strbuf *out)
{
    int rc = RC_OK;
    const struct qref **order = xmalloc((rw->nrefs ? rw->nrefs : 1) * sizeof(*order));
    for (size_t i = 0; i < rw->nrefs; i++)
        order[i] = &rw->refs[i];
    qsort(order, rw->nrefs, sizeof(*order), cmp_loc);
    size_t pos = 0;
    for (size_t i = 0; rc == RC_OK && i < rw->nrefs; i++) {
        const struct qref *r = order[i];
        if (r->loc < pos) {
            rc = RC_INTERNAL;
            break;
        }
        rc = strbuf_append(out, rw->text + pos, r->loc - pos);
        const struct qmeas *m = &rw->meas[r->meas];
        if (rc == RC_OK)
            rc = strbuf_puts(out, r->bare ? "SELECT * FROM (" : "(");
        if (rc == RC_OK)
            rc = view(ctx, (size_t)(r - rw->refs), out);
        if (rc == RC_OK)
            rc = strbuf_putc(out, ')');
        if (rc == RC_OK && (!r->has_alias || r->bare))
            rc = strbuf_printf(out, " AS \"%s\"", m->name); /* names are [A-Za-z0-9_-] */
        pos = r->end;
    }
    if (rc == RC_OK)
        rc = strbuf_append(out, rw->text + pos, rw->len - pos);
    xfree(order);
    return rc;
}

/* ---- template ------------------------------------------------------------------- */

int qrewrite_template_split(const char *json, size_t n, char **head, char **tail)
{
    struct qjdoc *d = qj_parse(json, n);
    if (!d)
        return RC_INTERNAL;
    const struct qj *node = qj_get(qj_at(qj_get(d->root, "statements"), 0), "node");
    const struct qj *sl = qj_get(node, "select_list");
    int rc = RC_INTERNAL;
    if (sl && sl->t == QJ_ARR && sl->n == 1) {
        *head = xstrndup(json, sl->start + 1);
        *tail = xstrndup(json + sl->end - 1, n - (sl->end - 1));
        rc = RC_OK;
    }
    qjdoc_free(d);
    return rc;
}
