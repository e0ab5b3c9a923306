/*
 * query/check.c — the lexical side of statement checking: a SQL tokenizer,
 * the special commands of SPEC §4.5, the statement's outer shape (trailing
 * ';', EXPLAIN prefix) and the error-type → RC table.
 *
 * None of this decides whether a statement is read-only: DuckDB's parser
 * does (engine.c: duckdb_extract_statements, json_serialize_sql, prepared
 * statement type). The lexer only finds token boundaries — where a
 * statement ends, where the statement under EXPLAIN starts, where a table
 * name written at a parser-reported offset ends — and a mistake there makes
 * DuckDB's parser reject the result, never accept more.
 *
 * Threads: pure functions, any thread.
 */
#include "query/query_internal.h"

#include <ctype.h>
#include <string.h>
#include <stdio.h>
#include <strings.h>

#include "util/strbuf.h"

/* ---- lexer --------------------------------------------------------------- */

void qlex_init(struct qlex *lx, const char *s, size_t n)
{
    lx->s = s;
    lx->n = n;
    lx->pos = 0;
}

static bool is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_word_start(unsigned char c)
{
    return isalpha(c) || c == '_' || c >= 0x80;
}

static bool is_word_char(unsigned char c)
{
    return isalnum(c) || c == '_' || c == '$' || c >= 0x80;
}

/* Skips whitespace and comments. False on an unterminated block comment. */
static bool skip_space(struct qlex *lx)
{
    const char *s = lx->s;
    size_t n = lx->n;
    for (;;) {
        while (lx->pos < n && is_ws((unsigned char)s[lx->pos]))
            lx->pos++;
        if (lx->pos + 1 < n && s[lx->pos] == '-' && s[lx->pos + 1] == '-') {
            while (lx->pos < n && s[lx->pos] != '\n')
                lx->pos++;
            continue;
        }
        if (lx->pos + 1 < n && s[lx->pos] == '/' && s[lx->pos + 1] == '*') {
            /* PostgreSQL block comments nest. */
            int depth = 0;
            while (lx->pos < n) {
                if (lx->pos + 1 < n && s[lx->pos] == '/' && s[lx->pos + 1] == '*') {
                    depth++;
                    lx->pos += 2;
                } else if (lx->pos + 1 < n && s[lx->pos] == '*' && s[lx->pos + 1] == '/') {
                    depth--;
                    lx->pos += 2;
                    if (depth == 0)
                        break;
                } else {
                    lx->pos++;
                }
            }
            if (depth != 0)
                return false;
            continue;
        }
        return true;
    }
}

/* Scans a quoted run starting at the opening quote q; a doubled quote is an
 * escaped one; with backslash escapes on, '\x' skips x. Returns the position
 * after the closing quote, or 0 if unterminated. */
static size_t scan_quoted(const char *s, size_t n, size_t pos, char q, bool backslash)
{
    size_t i = pos + 1;
    while (i < n) {
        if (backslash && s[i] == '\\') {
            i += 2;
            continue;
        }
        if (s[i] == q) {
            if (i + 1 < n && s[i + 1] == q) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i++;
    }
    return 0;
}

void qlex_next(struct qlex *lx, struct qlex_tok *t)
{
    const char *s = lx->s;
    size_t n = lx->n;
    if (!skip_space(lx)) {
        t->kind = QTOK_ERROR;
        t->start = t->end = lx->pos;
        lx->pos = n;
        return;
    }
    t->start = lx->pos;
    if (lx->pos >= n) {
        t->kind = QTOK_END;
        t->end = n;
        return;
    }
    size_t i = lx->pos;
    unsigned char c = (unsigned char)s[i];
    size_t end = 0;

    if (c == '"') {
        t->kind = QTOK_QIDENT;
        end = scan_quoted(s, n, i, '"', false);
    } else if (c == '\'') {
        t->kind = QTOK_STRING;
        end = scan_quoted(s, n, i, '\'', false);
    } else if ((c == 'e' || c == 'E') && i + 1 < n && s[i + 1] == '\'') {
        t->kind = QTOK_STRING;
        end = scan_quoted(s, n, i + 1, '\'', true);
    } else if ((c == 'x' || c == 'X' || c == 'b' || c == 'B' || c == 'n' || c == 'N') &&
               i + 1 < n && s[i + 1] == '\'') {
        t->kind = QTOK_STRING;
        end = scan_quoted(s, n, i + 1, '\'', false);
    } else if ((c == 'u' || c == 'U') && i + 2 < n && s[i + 1] == '&' &&
               (s[i + 2] == '\'' || s[i + 2] == '"')) {
        t->kind = s[i + 2] == '"' ? QTOK_QIDENT : QTOK_STRING;
        end = scan_quoted(s, n, i + 2, s[i + 2], false);
    } else if (c == '$') {
        size_t j = i + 1;
        if (j < n && isdigit((unsigned char)s[j])) {
            while (j < n && isdigit((unsigned char)s[j]))
                j++;
            t->kind = QTOK_PARAM;
            end = j;
        } else {
            /* Dollar quoting: $tag$ ... $tag$ (tag may be empty). */
            while (j < n && (is_word_start((unsigned char)s[j]) ||
                             (j > i + 1 && isdigit((unsigned char)s[j]))))
                j++;
            if (j < n && s[j] == '$') {
                size_t taglen = j + 1 - i;
                t->kind = QTOK_STRING;
                size_t k = j + 1;
                end = 0;
                while (k + taglen <= n) {
                    if (s[k] == '$' && !memcmp(s + k, s + i, taglen)) {
                        end = k + taglen;
                        break;
                    }
                    k++;
                }
            } else {
                t->kind = QTOK_PUNCT;
                end = i + 1;
            }
        }
    } else if (c == '?') {
        t->kind = QTOK_PARAM;
        end = i + 1;
    } else if (isdigit(c) || (c == '.' && i + 1 < n && isdigit((unsigned char)s[i + 1]))) {
        size_t j = i;
        while (j < n) {
            unsigned char d = (unsigned char)s[j];
            if (isalnum(d) || d == '.' || d == '_') {
                if ((d == 'e' || d == 'E') && j + 1 < n && (s[j + 1] == '+' || s[j + 1] == '-'))
                    j++;
                j++;
            } else {
                break;
            }
        }
        t->kind = QTOK_NUMBER;
        end = j;
    } else if (is_word_start(c)) {
        size_t j = i + 1;
        while (j < n && is_word_char((unsigned char)s[j]))
            j++;
        t->kind = QTOK_WORD;
        end = j;
    } else {
        t->kind = QTOK_PUNCT;
        end = i + 1;
    }
    if (end == 0) {
        t->kind = QTOK_ERROR;
        t->end = n;
        lx->pos = n;
        return;
    }
    t->end = end;
    lx->pos = end;
}

bool qlex_is_word(const struct qlex *lx, const struct qlex_tok *t, const char *kw)
{
    size_t len = strlen(kw);
    return t->kind == QTOK_WORD && t->end - t->start == len &&
           !strncasecmp(lx->s + t->start, kw, len);
}

bool qlex_is_punct(const struct qlex *lx, const struct qlex_tok *t, char c)
{
    return t->kind == QTOK_PUNCT && lx->s[t->start] == c;
}

bool qlex_ident(const struct qlex *lx, const struct qlex_tok *t, char *out, size_t cap)
{
    const char *s = lx->s + t->start;
    size_t len = t->end - t->start;
    size_t o = 0;
    if (t->kind == QTOK_WORD) {
        if (len >= cap)
            return false;
        memcpy(out, s, len);
        out[len] = '\0';
        return true;
    }
    char q;
    if (t->kind == QTOK_QIDENT && len >= 2 && s[0] == '"')
        q = '"';
    else if (t->kind == QTOK_STRING && len >= 2 && s[0] == '\'')
        q = '\'';
    else
        return false;
    for (size_t i = 1; i + 1 < len; i++) {
        if (s[i] == q)
            i++; /* doubled quote */
        if (o + 1 >= cap)
            return false;
        out[o++] = s[i];
    }
    out[o] = '\0';
    return true;
}

/* ---- special commands ------------------------------------------------------- */

/* True if the remaining tokens are nothing or ';'s. */
static bool at_end(struct qlex *lx)
{
    struct qlex_tok t;
    for (;;) {
        qlex_next(lx, &t);
        if (t.kind == QTOK_END)
            return true;
        if (!qlex_is_punct(lx, &t, ';'))
            return false;
    }
}

static bool is_name_tok(const struct qlex_tok *t)
{
    return t->kind == QTOK_WORD || t->kind == QTOK_QIDENT || t->kind == QTOK_STRING;
}

int qcheck_special(const char *sql, size_t n, struct qspecial *out, struct errbuf *eb)
{
    memset(out, 0, sizeof(*out));
    out->kind = QUERY_SELECT;
    struct qlex lx;
    struct qlex_tok t1, t2, t3, t4;
    qlex_init(&lx, sql, n);
    qlex_next(&lx, &t1);

    if (qlex_is_word(&lx, &t1, "SHOW")) {
        qlex_next(&lx, &t2);
        if (qlex_is_word(&lx, &t2, "DATABASES")) {
            if (!at_end(&lx))
                return errbuf_set(eb, RC_INVALID, "invalid SHOW DATABASES command");
            out->kind = QUERY_SHOW_DATABASES;
            return RC_OK;
        }
        if (qlex_is_word(&lx, &t2, "TABLES") || qlex_is_word(&lx, &t2, "MEASUREMENTS")) {
            struct qlex save = lx;
            if (at_end(&lx)) {
                out->kind = QUERY_SHOW_TABLES;
                return RC_OK;
            }
            lx = save;
            qlex_next(&lx, &t3);
            if (!qlex_is_word(&lx, &t3, "FROM") && !qlex_is_word(&lx, &t3, "IN"))
                return errbuf_set(eb, RC_INVALID,
                                  "invalid SHOW TABLES command: expected FROM <database>");
            qlex_next(&lx, &t4);
            char name[DB_NAME_MAX + 2];
            if (!is_name_tok(&t4) || !qlex_ident(&lx, &t4, name, sizeof(name)) ||
                !name_is_valid_database(name, strlen(name)))
                return errbuf_set(eb, RC_INVALID,
                                  "invalid database name in SHOW TABLES (names start with a "
                                  "letter, then letters, digits, '_' or '-', at most %d)",
                                  DB_NAME_MAX);
            if (!at_end(&lx))
                return errbuf_set(eb, RC_INVALID, "invalid SHOW TABLES command");
            out->kind = QUERY_SHOW_TABLES;
            out->has_db = true;
            memcpy(out->db, name, strlen(name) + 1);
            return RC_OK;
        }
        return RC_OK; /* some other SHOW: DuckDB decides */
    }

    if (qlex_is_word(&lx, &t1, "DESCRIBE") || qlex_is_word(&lx, &t1, "DESC")) {
        qlex_next(&lx, &t2);
        if (!is_name_tok(&t2))
            return RC_OK;
        /* Keywords that start a query: DESCRIBE SELECT ... is DuckDB's. */
        static const char *const query_words[] = {
            "SELECT", "WITH", "FROM", "VALUES", "TABLE", "PIVOT", "UNPIVOT", "SUMMARIZE", NULL};
        for (int i = 0; query_words[i]; i++)
            if (qlex_is_word(&lx, &t2, query_words[i]))
                return RC_OK;
        struct qlex save = lx;
        qlex_next(&lx, &t3);
        bool two = qlex_is_punct(&lx, &t3, '.');
        if (two) {
            qlex_next(&lx, &t4);
            if (!is_name_tok(&t4) || !at_end(&lx))
                return RC_OK;
        } else {
            lx = save;
            if (!at_end(&lx))
                return RC_OK;
        }
        char a[MEASUREMENT_NAME_MAX + 2], b[MEASUREMENT_NAME_MAX + 2];
        if (!qlex_ident(&lx, &t2, a, sizeof(a)))
            return errbuf_set(eb, RC_INVALID, "invalid name in DESCRIBE");
        if (two) {
            if (!qlex_ident(&lx, &t4, b, sizeof(b)))
                return errbuf_set(eb, RC_INVALID, "invalid measurement name in DESCRIBE");
            if (!name_is_valid_database(a, strlen(a)))
                return errbuf_set(eb, RC_INVALID, "invalid database name in DESCRIBE: %s", a);
            out->has_db = true;
            memcpy(out->db, a, strlen(a) + 1);
        } else {
            memcpy(b, a, strlen(a) + 1);
        }
        if (!name_is_valid_measurement(b, strlen(b)))
            return errbuf_set(eb, RC_INVALID, "invalid measurement name in DESCRIBE: %s", b);
        memcpy(out->table, b, strlen(b) + 1);
        out->kind = QUERY_DESCRIBE;
        return RC_OK;
    }
    return RC_OK;
}

/* ---- statement shape --------------------------------------------------------- */

static void upper_word(const struct qlex *lx, const struct qlex_tok *t, char *out, size_t cap)
{
    out[0] = '\0';
    if (t->kind != QTOK_WORD)
        return;
    size_t len = t->end - t->start;
    if (len >= cap)
        len = cap - 1;
    for (size_t i = 0; i < len; i++)
        out[i] = (char)toupper((unsigned char)lx->s[t->start + i]);
    out[len] = '\0';
}

/* The statement keyword of a WITH statement: the first SELECT / INSERT /
 * UPDATE / DELETE / MERGE outside parentheses after the WITH. */
static void with_kind(struct qlex *lx, char *out, size_t cap)
{
    static const char *const words[] = {"SELECT", "INSERT", "UPDATE", "DELETE", "MERGE", NULL};
    struct qlex_tok t;
    int depth = 0;
    for (;;) {
        qlex_next(lx, &t);
        if (t.kind == QTOK_END || t.kind == QTOK_ERROR)
            return;
        if (qlex_is_punct(lx, &t, '('))
            depth++;
        else if (qlex_is_punct(lx, &t, ')'))
            depth--;
        else if (depth == 0)
            for (int i = 0; words[i]; i++)
                if (qlex_is_word(lx, &t, words[i])) {
                    snprintf(out, cap, "%s", words[i]);
                    return;
                }
    }
}

void qcheck_shape(const char *sql, size_t n, struct qshape *out)
{
    memset(out, 0, sizeof(*out));
    struct qlex lx;
    struct qlex_tok t;
    qlex_init(&lx, sql, n);

    /* body_end: end of the last token that is not ';'. */
    size_t last_end = 0;
    bool any = false;
    for (;;) {
        qlex_next(&lx, &t);
        if (t.kind == QTOK_END)
            break;
        if (t.kind == QTOK_ERROR) {
            last_end = n;
            any = true;
            break;
        }
        if (!qlex_is_punct(&lx, &t, ';')) {
            last_end = t.end;
            any = true;
        }
    }
    out->empty = !any;
    out->body_end = any ? last_end : 0;
    if (!any)
        return;

    qlex_init(&lx, sql, out->body_end);
    qlex_next(&lx, &t);
    upper_word(&lx, &t, out->first_word, sizeof(out->first_word));
    snprintf(out->kind, sizeof(out->kind), "%s", out->first_word[0] ? out->first_word : "UNKNOWN");
    if (qlex_is_word(&lx, &t, "WITH")) {
        struct qlex w = lx;
        with_kind(&w, out->kind, sizeof(out->kind));
    }
    if (!qlex_is_word(&lx, &t, "EXPLAIN"))
        return;
    out->explain = true;
    qlex_next(&lx, &t);
    if (qlex_is_word(&lx, &t, "ANALYZE") || qlex_is_word(&lx, &t, "ANALYSE"))
        qlex_next(&lx, &t);
    if (qlex_is_punct(&lx, &t, '(')) {
        /* EXPLAIN (FORMAT json, ...): options are words, strings, numbers
         * and commas; anything else leaves the '(' in the inner text so
         * that DuckDB's parser rejects it. */
        struct qlex save = lx;
        struct qlex_tok open = t;
        bool ok = false;
        for (;;) {
            qlex_next(&lx, &t);
            if (qlex_is_punct(&lx, &t, ')')) {
                ok = true;
                break;
            }
            if (t.kind == QTOK_WORD || t.kind == QTOK_STRING || t.kind == QTOK_NUMBER ||
                qlex_is_punct(&lx, &t, ','))
                continue;
            break;
        }
        if (!ok) {
            lx = save;
            t = open;
        } else {
            qlex_next(&lx, &t);
        }
    }
    out->inner_start = t.kind == QTOK_END ? out->body_end : t.start;
    upper_word(&lx, &t, out->second_word, sizeof(out->second_word));
    char inner[24];
    snprintf(inner, sizeof(inner), "%s", out->second_word);
    if (qlex_is_word(&lx, &t, "WITH"))
        with_kind(&lx, inner, sizeof(inner));
    snprintf(out->kind, sizeof(out->kind), "EXPLAIN%s%s", inner[0] ? " " : "", inner);
}

/* ---- DuckDB vocabulary ---------------------------------------------------- */

const char *qcheck_statement_type_name(duckdb_statement_type t)
{
    switch (t) {
    case DUCKDB_STATEMENT_TYPE_SELECT: return "SELECT";
    case DUCKDB_STATEMENT_TYPE_INSERT: return "INSERT";
    case DUCKDB_STATEMENT_TYPE_UPDATE: return "UPDATE";
    case DUCKDB_STATEMENT_TYPE_EXPLAIN: return "EXPLAIN";
    case DUCKDB_STATEMENT_TYPE_DELETE: return "DELETE";
    case DUCKDB_STATEMENT_TYPE_PREPARE: return "PREPARE";
    case DUCKDB_STATEMENT_TYPE_CREATE: return "CREATE";
    case DUCKDB_STATEMENT_TYPE_EXECUTE: return "EXECUTE";
    case DUCKDB_STATEMENT_TYPE_ALTER: return "ALTER";
    case DUCKDB_STATEMENT_TYPE_TRANSACTION: return "TRANSACTION";
    case DUCKDB_STATEMENT_TYPE_COPY: return "COPY";
    case DUCKDB_STATEMENT_TYPE_ANALYZE: return "ANALYZE";
    case DUCKDB_STATEMENT_TYPE_VARIABLE_SET: return "SET";
    case DUCKDB_STATEMENT_TYPE_CREATE_FUNC: return "CREATE FUNCTION";
    case DUCKDB_STATEMENT_TYPE_DROP: return "DROP";
    case DUCKDB_STATEMENT_TYPE_EXPORT: return "EXPORT";
    case DUCKDB_STATEMENT_TYPE_PRAGMA: return "PRAGMA";
    case DUCKDB_STATEMENT_TYPE_VACUUM: return "VACUUM";
    case DUCKDB_STATEMENT_TYPE_CALL: return "CALL";
    case DUCKDB_STATEMENT_TYPE_SET: return "SET";
    case DUCKDB_STATEMENT_TYPE_LOAD: return "LOAD";
    case DUCKDB_STATEMENT_TYPE_RELATION: return "RELATION";
    case DUCKDB_STATEMENT_TYPE_EXTENSION: return "EXTENSION";
    case DUCKDB_STATEMENT_TYPE_LOGICAL_PLAN: return "LOGICAL PLAN";
    case DUCKDB_STATEMENT_TYPE_ATTACH: return "ATTACH";
    case DUCKDB_STATEMENT_TYPE_DETACH: return "DETACH";
    case DUCKDB_STATEMENT_TYPE_MULTI: return "MULTI";
    default: return "UNKNOWN";
    }
}

int qcheck_rc_for_error(duckdb_error_type t)
{
    switch (t) {
    case DUCKDB_ERROR_PERMISSION: return RC_DENIED;
    case DUCKDB_ERROR_INTERRUPT: return RC_TIMEOUT;
    /* Mistakes in the query itself: 400. */
    case DUCKDB_ERROR_OUT_OF_RANGE:
    case DUCKDB_ERROR_CONVERSION:
    case DUCKDB_ERROR_UNKNOWN_TYPE:
    case DUCKDB_ERROR_DECIMAL:
    case DUCKDB_ERROR_MISMATCH_TYPE:
    case DUCKDB_ERROR_DIVIDE_BY_ZERO:
    case DUCKDB_ERROR_OBJECT_SIZE:
    case DUCKDB_ERROR_INVALID_TYPE:
    case DUCKDB_ERROR_NOT_IMPLEMENTED:
    case DUCKDB_ERROR_EXPRESSION:
    case DUCKDB_ERROR_CATALOG:
    case DUCKDB_ERROR_PARSER:
    case DUCKDB_ERROR_SYNTAX:
    case DUCKDB_ERROR_SETTINGS:
    case DUCKDB_ERROR_BINDER:
    case DUCKDB_ERROR_INVALID_INPUT:
    case DUCKDB_ERROR_PARAMETER_NOT_RESOLVED:
    case DUCKDB_ERROR_PARAMETER_NOT_ALLOWED:
    case DUCKDB_ERROR_MISSING_EXTENSION:
    case DUCKDB_ERROR_AUTOLOAD: return RC_INVALID;
    default: return RC_DB;
    }
}

size_t qcheck_utf8_chars(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            c++;
    return c;
}

static int append_quoted(struct strbuf *sb, const char *s, size_t n, char q)
{
    int rc = strbuf_putc(sb, q);
    size_t i = 0;
    while (rc == RC_OK && i < n) {
        const char *p = memchr(s + i, q, n - i);
        size_t run = p ? (size_t)(p - (s + i)) + 1 : n - i;
        rc = strbuf_append(sb, s + i, run);
        if (rc == RC_OK && p)
            rc = strbuf_putc(sb, q);
        i += run;
    }
    if (rc == RC_OK)
        rc = strbuf_putc(sb, q);
    return rc;
}

int qcheck_append_literal(struct strbuf *sb, const char *s, size_t n)
{
    return append_quoted(sb, s, n, '\'');
}

int qcheck_append_ident(struct strbuf *sb, const char *s, size_t n)
{
    return append_quoted(sb, s, n, '"');
}
