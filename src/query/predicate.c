/*
 * query/predicate.c — parser and renderer of the restricted predicate
 * grammar (see predicate.h for the grammar and SPEC §8.4).
 *
 * Two stages: a tokenizer that accepts only the characters the grammar can
 * use (anything else — ';', comment openers, '::', '[', ... — is an error at its
 * position), and a recursive-descent parser that builds a tree of at most
 * PRED_MAX_NODES nodes. Rendering walks the tree and writes SQL we control;
 * the only user text copied into it is the content of quoted strings and
 * identifiers (escaped) and numbers that matched the number syntax.
 *
 * Threads: parsing uses only its own state; a tree is read-only afterwards.
 */
#include "query/predicate.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/mem.h"
#include "util/timeutil.h"

/* ---- tokens --------------------------------------------------------- */

enum tok_kind {
    TK_END = 0,
    TK_IDENT,  /* bare identifier or keyword (text) */
    TK_QIDENT, /* "quoted identifier" (value unescaped) */
    TK_STRING, /* 'string' (value unescaped) */
    TK_NUMBER, /* [-]digits[.digits][e[+-]digits] (text) */
    TK_LPAREN,
    TK_RPAREN,
    TK_COMMA,
    TK_PLUS,
    TK_MINUS,
    TK_OP, /* = != <> < <= > >= (text) */
};

struct tok {
    enum tok_kind kind;
    size_t pos;       /* 1-based character position in the input */
    const char *text; /* into the input */
    size_t len;
    char *value; /* TK_QIDENT, TK_STRING: unescaped, xmalloc'ed */
    size_t value_len;
};

/* ---- tree ------------------------------------------------------------ */

enum pn_kind {
    PN_OR,
    PN_AND,
    PN_NOT,
    PN_CMP,
    PN_IN,
    PN_BETWEEN,
    PN_ISNULL,
    PN_LIKE,
    PN_CONST_NUM,
    /* operands */
    PN_COL,
    PN_STR,
    PN_NUM,
    PN_TRUE,
    PN_FALSE,
    PN_NULL,
    PN_TIME,
};

enum time_base { TB_NOW, TB_CURRENT_TIMESTAMP, TB_LITERAL };

struct pnode {
    enum pn_kind kind;
    bool negated; /* NOT IN / NOT BETWEEN / IS NOT NULL / NOT LIKE */
    bool ilike;
    char op[3]; /* PN_CMP */
    struct pnode **kids;
    size_t nkids;
    char *s; /* PN_COL name, PN_STR value, PN_NUM text */
    size_t slen;
    bool as_time;         /* PN_STR rendered as a TIMESTAMPTZ literal */
    int64_t ts_us;        /* as_time, PN_TIME literal */
    enum time_base tbase; /* PN_TIME */
    char ivsign;          /* PN_TIME: '+', '-' or 0 (no interval) */
    char *interval;       /* PN_TIME: normalised "<n> <unit>" */
};

struct pred {
    struct pnode *root;
    struct pnode **all; /* every node, for freeing */
    size_t nnodes;
    char **cols; /* distinct column names (point into nodes) */
    size_t ncols;
};

struct parser {
    const char *src;
    size_t len;
    struct tok *toks;
    size_t ntoks, cap;
    size_t i; /* next token */
    int depth;
    struct pred *p;
    struct errbuf *eb;
};

static int perr(struct parser *ps, size_t pos, const char *what)
{
    return errbuf_set(ps->eb, RC_INVALID, "invalid where clause at position %zu: %s", pos, what);
}

static bool utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t k;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            k = 1, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            k = 2, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            k = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i <= k)
            return false;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += k + 1;
    }
    return true;
}

static struct tok *push_tok(struct parser *ps, enum tok_kind kind, size_t at, size_t len)
{
    if (ps->ntoks == ps->cap) {
        ps->cap = ps->cap ? ps->cap * 2 : 32;
        ps->toks = xrealloc(ps->toks, ps->cap * sizeof(*ps->toks));
    }
    struct tok *t = &ps->toks[ps->ntoks++];
    memset(t, 0, sizeof(*t));
    t->kind = kind;
    t->pos = at + 1;
    t->text = ps->src + at;
    t->len = len;
    return t;
}

/* Reads a quoted token starting at the quote q; doubled quotes are one. */
static int read_quoted(struct parser *ps, size_t *at, char q, enum tok_kind kind)
{
    const char *s = ps->src;
    size_t start = *at, i = start + 1;
    char *val = xmalloc(ps->len - start + 1);
    size_t n = 0;
    for (;;) {
        if (i >= ps->len) {
            xfree(val);
            return perr(ps, start + 1,
                        kind == TK_STRING ? "unterminated string"
                                          : "unterminated quoted identifier");
        }
        if (s[i] == q) {
            if (i + 1 < ps->len && s[i + 1] == q) {
                val[n++] = q;
                i += 2;
                continue;
            }
            i++;
            break;
        }
        val[n++] = s[i++];
    }
    val[n] = '\0';
    if (!utf8_valid((const unsigned char *)val, n)) {
        xfree(val);
        return perr(ps, start + 1, "invalid UTF-8");
    }
    struct tok *t = push_tok(ps, kind, start, i - start);
    t->value = val;
    t->value_len = n;
    *at = i;
    return RC_OK;
}

static bool is_ident_start(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool is_ident_char(char c)
{
    return is_ident_start(c) || (c >= '0' && c <= '9');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static const char *const keywords[] = {
    "AND",  "OR",    "NOT",      "IN",        "BETWEEN",           "IS",   "NULL", "LIKE", "ILIKE",
    "TRUE", "FALSE", "INTERVAL", "TIMESTAMP", "CURRENT_TIMESTAMP", "WHERE"};

static bool tok_is_kw(const struct tok *t, const char *kw)
{
    return t->kind == TK_IDENT && strlen(kw) == t->len && strncasecmp(t->text, kw, t->len) == 0;
}

static bool tok_is_reserved(const struct tok *t)
{
    for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
        if (tok_is_kw(t, keywords[i]))
            return true;
    return false;
}

/* A '-' directly before a digit starts a negative number unless it follows
 * an operand (then it is arithmetic, which the parser rejects). */
static bool minus_is_sign(const struct parser *ps)
{
    if (ps->ntoks == 0)
        return true;
    const struct tok *t = &ps->toks[ps->ntoks - 1];
    switch (t->kind) {
    case TK_RPAREN:
    case TK_NUMBER:
    case TK_QIDENT:
    case TK_STRING: return false;
    case TK_IDENT: return tok_is_reserved(t);
    default: return true;
    }
}

static int tokenize(struct parser *ps)
{
    const char *s = ps->src;
    size_t i = 0;
    while (i < ps->len) {
        char c = s[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            i++;
        } else if (c == '\'' || c == '"') {
            int rc = read_quoted(ps, &i, c, c == '\'' ? TK_STRING : TK_QIDENT);
            if (rc)
                return rc;
        } else if (is_ident_start(c)) {
            size_t st = i;
            while (i < ps->len && is_ident_char(s[i]))
                i++;
            push_tok(ps, TK_IDENT, st, i - st);
        } else if (is_digit(c) ||
                   (c == '-' && i + 1 < ps->len && is_digit(s[i + 1]) && minus_is_sign(ps))) {
            size_t st = i;
            if (c == '-')
                i++;
            while (i < ps->len && is_digit(s[i]))
                i++;
            if (i < ps->len && s[i] == '.') {
                i++;
                if (i >= ps->len || !is_digit(s[i]))
                    return perr(ps, st + 1, "malformed number");
                while (i < ps->len && is_digit(s[i]))
                    i++;
            }
            if (i < ps->len && (s[i] == 'e' || s[i] == 'E')) {
                i++;
                if (i < ps->len && (s[i] == '+' || s[i] == '-'))
                    i++;
                if (i >= ps->len || !is_digit(s[i]))
                    return perr(ps, st + 1, "malformed number");
                while (i < ps->len && is_digit(s[i]))
                    i++;
            }
            if (i < ps->len && (is_ident_char(s[i]) || s[i] == '.'))
                return perr(ps, st + 1, "malformed number");
            if (i - st > 64)
                return perr(ps, st + 1, "number too long");
            push_tok(ps, TK_NUMBER, st, i - st);
        } else if (c == '(' || c == ')' || c == ',' || c == '+') {
            push_tok(ps,
                     c == '('   ? TK_LPAREN
                     : c == ')' ? TK_RPAREN
                     : c == ',' ? TK_COMMA
                                : TK_PLUS,
                     i, 1);
            i++;
        } else if (c == '-') {
            if (i + 1 < ps->len && s[i + 1] == '-')
                return perr(ps, i + 1, "comments are not allowed");
            push_tok(ps, TK_MINUS, i, 1);
            i++;
        } else if (c == '/' && i + 1 < ps->len && s[i + 1] == '*') {
            return perr(ps, i + 1, "comments are not allowed");
        } else if (c == ';') {
            return perr(ps, i + 1, "';' is not allowed");
        } else if (c == ':' && i + 1 < ps->len && s[i + 1] == ':') {
            return perr(ps, i + 1, "casts are not allowed");
        } else if (c == '=' || c == '<' || c == '>' || c == '!') {
            size_t st = i;
            i++;
            if (i < ps->len && ((c == '<' && (s[i] == '=' || s[i] == '>')) ||
                                (c == '>' && s[i] == '=') || (c == '!' && s[i] == '=')))
                i++;
            if (c == '!' && i - st != 2)
                return perr(ps, st + 1, "unexpected '!'");
            if (c == '=' && i < ps->len && s[i] == '=')
                return perr(ps, st + 1, "use '=' for equality");
            push_tok(ps, TK_OP, st, i - st);
        } else {
            char what[48];
            if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7f)
                snprintf(what, sizeof(what), "unexpected character '%c'", c);
            else
                snprintf(what, sizeof(what), "unexpected byte 0x%02x", (unsigned char)c);
            return perr(ps, i + 1, what);
        }
    }
    push_tok(ps, TK_END, ps->len, 0);
    return RC_OK;
}

/* ---- parser ------------------------------------------------------------ */

static struct tok *peek(struct parser *ps)
{
    return &ps->toks[ps->i];
}

static struct tok *peek2(struct parser *ps)
{
    return &ps->toks[ps->i + 1 < ps->ntoks ? ps->i + 1 : ps->i];
}

static struct tok *next(struct parser *ps)
{
    struct tok *t = &ps->toks[ps->i];
    if (t->kind != TK_END)
        ps->i++;
    return t;
}

static int new_node(struct parser *ps, enum pn_kind kind, size_t pos, struct pnode **out)
{
    if (ps->p->nnodes >= PRED_MAX_NODES)
        return errbuf_set(ps->eb, RC_INVALID,
                          "invalid where clause at position %zu: more than %d grammar nodes", pos,
                          PRED_MAX_NODES);
    struct pnode *n = xcalloc(1, sizeof(*n));
    n->kind = kind;
    ps->p->all[ps->p->nnodes++] = n;
    *out = n;
    return RC_OK;
}

static void add_kid(struct pnode *n, struct pnode *kid)
{
    n->kids = xrealloc(n->kids, (n->nkids + 1) * sizeof(*n->kids));
    n->kids[n->nkids++] = kid;
}

static const char *tok_desc(const struct tok *t)
{
    switch (t->kind) {
    case TK_END: return "end of input";
    case TK_STRING: return "a string";
    case TK_NUMBER: return "a number";
    case TK_QIDENT:
    case TK_IDENT: return "an identifier";
    default: return "an operator";
    }
}

static int expected(struct parser *ps, const char *what)
{
    char msg[160];
    struct tok *t = peek(ps);
    if (t->kind == TK_IDENT && !tok_is_reserved(t) && peek2(ps)->kind == TK_LPAREN)
        return perr(ps, t->pos, "function calls are not allowed");
    if (t->kind == TK_IDENT)
        snprintf(msg, sizeof(msg), "expected %s, found '%.*s'", what,
                 (int)(t->len > 32 ? 32 : t->len), t->text);
    else
        snprintf(msg, sizeof(msg), "expected %s, found %s", what, tok_desc(t));
    return perr(ps, t->pos, msg);
}

static bool is_column_tok(const struct tok *t)
{
    return t->kind == TK_QIDENT || (t->kind == TK_IDENT && !tok_is_reserved(t));
}

static int parse_column(struct parser *ps, struct pnode **out)
{
    struct tok *t = peek(ps);
    if (!is_column_tok(t))
        return expected(ps, "a column name");
    if (t->kind == TK_IDENT && peek2(ps)->kind == TK_LPAREN)
        return perr(ps, t->pos, "function calls are not allowed");
    const char *name = t->kind == TK_QIDENT ? t->value : t->text;
    size_t len = t->kind == TK_QIDENT ? t->value_len : t->len;
    if (len == 0)
        return perr(ps, t->pos, "empty column name");
    if (len > 255)
        return perr(ps, t->pos, "column name longer than 255 bytes");
    if (memchr(name, '\0', len))
        return perr(ps, t->pos, "NUL in column name");
    int rc = new_node(ps, PN_COL, t->pos, out);
    if (rc)
        return rc;
    (*out)->s = xstrndup(name, len);
    (*out)->slen = len;
    next(ps);
    return RC_OK;
}

/* '<integer> <unit>' with unit second(s) ... year(s). */
static int parse_interval_text(struct parser *ps, const struct tok *t, char **out)
{
    static const char *const units[] = {"second", "minute", "hour", "day", "week", "month", "year"};
    const char *s = t->value;
    size_t n = t->value_len, i = 0;
    while (i < n && s[i] == ' ')
        i++;
    size_t ns = i;
    if (i < n && s[i] == '-')
        i++;
    size_t ds = i;
    while (i < n && is_digit(s[i]))
        i++;
    if (i == ds || i - ds > 9)
        return perr(ps, t->pos, "INTERVAL must be '<integer> <unit>'");
    size_t ne = i;
    if (i >= n || s[i] != ' ')
        return perr(ps, t->pos, "INTERVAL must be '<integer> <unit>'");
    while (i < n && s[i] == ' ')
        i++;
    size_t us = i;
    while (i < n && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
        i++;
    size_t ue = i;
    while (i < n && s[i] == ' ')
        i++;
    if (i != n)
        return perr(ps, t->pos, "INTERVAL must be '<integer> <unit>'");
    char unit[16];
    size_t ul = ue - us;
    if (ul == 0 || ul >= sizeof(unit))
        return perr(ps, t->pos,
                    "INTERVAL unit must be second, minute, hour, day, week, month or year");
    for (size_t k = 0; k < ul; k++)
        unit[k] = (char)tolower((unsigned char)s[us + k]);
    unit[ul] = '\0';
    bool plural = ul > 1 && unit[ul - 1] == 's';
    if (plural)
        unit[ul - 1] = '\0';
    bool ok = false;
    for (size_t k = 0; k < sizeof(units) / sizeof(units[0]) && !ok; k++)
        ok = strcmp(unit, units[k]) == 0;
    if (!ok)
        return perr(ps, t->pos,
                    "INTERVAL unit must be second, minute, hour, day, week, month or year");
    char buf[64];
    snprintf(buf, sizeof(buf), "%.*s %s%s", (int)(ne - ns), s + ns, unit, plural ? "s" : "");
    *out = xstrdup(buf);
    return RC_OK;
}

static int parse_time_expr(struct parser *ps, struct pnode **out)
{
    struct tok *t = peek(ps);
    int rc = new_node(ps, PN_TIME, t->pos, out);
    if (rc)
        return rc;
    struct pnode *n = *out;
    if (tok_is_kw(t, "now")) {
        next(ps);
        if (next(ps)->kind != TK_LPAREN || peek(ps)->kind != TK_RPAREN)
            return perr(ps, t->pos, "now() takes no arguments");
        next(ps);
        n->tbase = TB_NOW;
    } else if (tok_is_kw(t, "CURRENT_TIMESTAMP")) {
        next(ps);
        n->tbase = TB_CURRENT_TIMESTAMP;
    } else {
        next(ps); /* TIMESTAMP */
        struct tok *st = peek(ps);
        if (st->kind != TK_STRING)
            return expected(ps, "a string after TIMESTAMP");
        if (!time_parse_rfc3339(st->value, st->value_len, &n->ts_us))
            return perr(ps, st->pos, "invalid timestamp (expected RFC 3339)");
        next(ps);
        n->tbase = TB_LITERAL;
    }
    struct tok *op = peek(ps);
    if ((op->kind == TK_PLUS || op->kind == TK_MINUS) && tok_is_kw(peek2(ps), "INTERVAL")) {
        next(ps);
        next(ps);
        struct tok *iv = peek(ps);
        if (iv->kind != TK_STRING)
            return expected(ps, "a string after INTERVAL");
        if ((rc = parse_interval_text(ps, iv, &n->interval)))
            return rc;
        next(ps);
        n->ivsign = op->kind == TK_PLUS ? '+' : '-';
    } else if (op->kind == TK_PLUS || op->kind == TK_MINUS) {
        return perr(ps, op->pos, "arithmetic is only allowed as <time> +/- INTERVAL '<n> <unit>'");
    }
    return RC_OK;
}

static bool at_time_expr(struct parser *ps)
{
    struct tok *t = peek(ps);
    return (tok_is_kw(t, "now") && peek2(ps)->kind == TK_LPAREN) ||
           tok_is_kw(t, "CURRENT_TIMESTAMP") ||
           (tok_is_kw(t, "TIMESTAMP") && peek2(ps)->kind == TK_STRING);
}

static int parse_literal(struct parser *ps, struct pnode **out)
{
    struct tok *t = peek(ps);
    int rc;
    switch (t->kind) {
    case TK_STRING:
        if ((rc = new_node(ps, PN_STR, t->pos, out)))
            return rc;
        (*out)->s = xstrndup(t->value, t->value_len);
        (*out)->slen = t->value_len;
        next(ps);
        return RC_OK;
    case TK_NUMBER:
        if ((rc = new_node(ps, PN_NUM, t->pos, out)))
            return rc;
        (*out)->s = xstrndup(t->text, t->len);
        (*out)->slen = t->len;
        next(ps);
        return RC_OK;
    case TK_IDENT:
        if (tok_is_kw(t, "TRUE") || tok_is_kw(t, "FALSE") || tok_is_kw(t, "NULL")) {
            enum pn_kind k = tok_is_kw(t, "TRUE")    ? PN_TRUE
                             : tok_is_kw(t, "FALSE") ? PN_FALSE
                                                     : PN_NULL;
            if ((rc = new_node(ps, k, t->pos, out)))
                return rc;
            next(ps);
            return RC_OK;
        }
        break;
    default: break;
    }
    return expected(ps, "a literal (string, number, TRUE, FALSE or NULL)");
}

static int parse_operand(struct parser *ps, struct pnode **out)
{
    if (at_time_expr(ps))
        return parse_time_expr(ps, out);
    struct tok *t = peek(ps);
    if (t->kind == TK_IDENT && tok_is_kw(t, "SELECT"))
        return perr(ps, t->pos, "subqueries are not allowed");
    if (is_column_tok(t))
        return parse_column(ps, out);
    if (t->kind == TK_LPAREN) {
        struct tok *t2 = peek2(ps);
        if (tok_is_kw(t2, "SELECT") || tok_is_kw(t2, "WITH"))
            return perr(ps, t2->pos, "subqueries are not allowed");
    }
    return parse_literal(ps, out);
}

static bool is_time_col(const struct pnode *n)
{
    return n->kind == PN_COL && n->slen == 4 && strncasecmp(n->s, "time", 4) == 0;
}

/* A string compared with `time` must be a timestamp. */
static int time_string(struct parser *ps, struct pnode *str, size_t pos)
{
    if (str->kind != PN_STR)
        return RC_OK;
    if (!time_parse_rfc3339(str->s, str->slen, &str->ts_us))
        return perr(ps, pos, "invalid timestamp compared with time (expected RFC 3339)");
    str->as_time = true;
    return RC_OK;
}

static int parse_disjunction(struct parser *ps, struct pnode **out);

static int parse_primary(struct parser *ps, struct pnode **out)
{
    struct tok *t = peek(ps);
    int rc;
    if (t->kind == TK_LPAREN) {
        struct tok *t2 = peek2(ps);
        if (tok_is_kw(t2, "SELECT") || tok_is_kw(t2, "WITH"))
            return perr(ps, t2->pos, "subqueries are not allowed");
        next(ps);
        if ((rc = parse_disjunction(ps, out)))
            return rc;
        if (peek(ps)->kind != TK_RPAREN)
            return expected(ps, "')'");
        next(ps);
        return RC_OK;
    }
    struct pnode *lhs;
    size_t lpos = t->pos;
    if ((rc = parse_operand(ps, &lhs)))
        return rc;
    struct tok *o = peek(ps);
    if (o->kind == TK_OP) {
        next(ps);
        struct pnode *rhs;
        size_t rpos = peek(ps)->pos;
        if ((rc = parse_operand(ps, &rhs)))
            return rc;
        if ((rc = new_node(ps, PN_CMP, o->pos, out)))
            return rc;
        snprintf((*out)->op, sizeof((*out)->op), "%.*s", (int)o->len, o->text);
        if (strcmp((*out)->op, "!=") == 0)
            snprintf((*out)->op, sizeof((*out)->op), "<>");
        if (is_time_col(lhs) && (rc = time_string(ps, rhs, rpos)))
            return rc;
        if (is_time_col(rhs) && (rc = time_string(ps, lhs, lpos)))
            return rc;
        add_kid(*out, lhs);
        add_kid(*out, rhs);
        return RC_OK;
    }
    bool negated = false;
    if (tok_is_kw(o, "NOT")) {
        next(ps);
        negated = true;
        o = peek(ps);
    }
    if (tok_is_kw(o, "BETWEEN")) {
        next(ps);
        struct pnode *lo, *hi;
        size_t lopos = peek(ps)->pos;
        if ((rc = parse_operand(ps, &lo)))
            return rc;
        if (!tok_is_kw(peek(ps), "AND"))
            return expected(ps, "AND in BETWEEN");
        next(ps);
        size_t hipos = peek(ps)->pos;
        if ((rc = parse_operand(ps, &hi)))
            return rc;
        if (is_time_col(lhs) &&
            ((rc = time_string(ps, lo, lopos)) || (rc = time_string(ps, hi, hipos))))
            return rc;
        if ((rc = new_node(ps, PN_BETWEEN, o->pos, out)))
            return rc;
        (*out)->negated = negated;
        add_kid(*out, lhs);
        add_kid(*out, lo);
        add_kid(*out, hi);
        return RC_OK;
    }
    if (tok_is_kw(o, "IN") || tok_is_kw(o, "LIKE") || tok_is_kw(o, "ILIKE") ||
        (tok_is_kw(o, "IS") && !negated)) {
        if (lhs->kind != PN_COL)
            return perr(ps, o->pos, "IN, LIKE and IS need a column on the left");
    }
    if (tok_is_kw(o, "IN")) {
        next(ps);
        if (peek(ps)->kind != TK_LPAREN)
            return expected(ps, "'(' after IN");
        next(ps);
        if (tok_is_kw(peek(ps), "SELECT") || tok_is_kw(peek(ps), "WITH"))
            return perr(ps, peek(ps)->pos, "subqueries are not allowed");
        if ((rc = new_node(ps, PN_IN, o->pos, out)))
            return rc;
        (*out)->negated = negated;
        add_kid(*out, lhs);
        for (;;) {
            struct pnode *lit;
            size_t lp = peek(ps)->pos;
            if ((rc = parse_literal(ps, &lit)))
                return rc;
            if (is_time_col(lhs) && (rc = time_string(ps, lit, lp)))
                return rc;
            add_kid(*out, lit);
            struct tok *sep = peek(ps);
            if (sep->kind != TK_RPAREN && sep->kind != TK_COMMA)
                return expected(ps, "',' or ')' in IN list");
            next(ps);
            if (sep->kind == TK_RPAREN)
                break;
        }
        return RC_OK;
    }
    if (tok_is_kw(o, "LIKE") || tok_is_kw(o, "ILIKE")) {
        next(ps);
        struct tok *st = peek(ps);
        if (st->kind != TK_STRING)
            return expected(ps, "a string after LIKE");
        struct pnode *pat;
        if ((rc = parse_literal(ps, &pat)))
            return rc;
        if ((rc = new_node(ps, PN_LIKE, o->pos, out)))
            return rc;
        (*out)->negated = negated;
        (*out)->ilike = tok_is_kw(o, "ILIKE");
        add_kid(*out, lhs);
        add_kid(*out, pat);
        return RC_OK;
    }
    if (negated)
        return expected(ps, "IN, BETWEEN, LIKE or ILIKE after NOT");
    if (tok_is_kw(o, "IS")) {
        next(ps);
        bool isnot = false;
        if (tok_is_kw(peek(ps), "NOT")) {
            next(ps);
            isnot = true;
        }
        if (!tok_is_kw(peek(ps), "NULL"))
            return expected(ps, "NULL after IS");
        next(ps);
        if ((rc = new_node(ps, PN_ISNULL, o->pos, out)))
            return rc;
        (*out)->negated = isnot;
        add_kid(*out, lhs);
        return RC_OK;
    }
    /* boolean = TRUE | FALSE | number */
    if (lhs->kind == PN_TRUE || lhs->kind == PN_FALSE) {
        *out = lhs;
        return RC_OK;
    }
    if (lhs->kind == PN_NUM) {
        lhs->kind = PN_CONST_NUM;
        *out = lhs;
        return RC_OK;
    }
    if (o->kind == TK_IDENT && !tok_is_reserved(o))
        return perr(ps, o->pos,
                    tok_is_kw(o, "UNION") ? "UNION is not allowed" : "unexpected identifier");
    return expected(ps, "a comparison operator, IN, BETWEEN, IS, LIKE or ILIKE");
}

static int parse_negation(struct parser *ps, struct pnode **out)
{
    struct tok *t = peek(ps);
    if (tok_is_kw(t, "NOT")) {
        next(ps);
        if (++ps->depth > PRED_MAX_DEPTH)
            return perr(ps, t->pos, "nesting deeper than 32 levels");
        struct pnode *kid;
        int rc = parse_primary(ps, &kid);
        ps->depth--;
        if (rc)
            return rc;
        if ((rc = new_node(ps, PN_NOT, t->pos, out)))
            return rc;
        add_kid(*out, kid);
        return RC_OK;
    }
    return parse_primary(ps, out);
}

static int parse_conjunction(struct parser *ps, struct pnode **out)
{
    struct pnode *first;
    int rc = parse_negation(ps, &first);
    if (rc)
        return rc;
    if (!tok_is_kw(peek(ps), "AND")) {
        *out = first;
        return RC_OK;
    }
    if ((rc = new_node(ps, PN_AND, peek(ps)->pos, out)))
        return rc;
    add_kid(*out, first);
    while (tok_is_kw(peek(ps), "AND")) {
        next(ps);
        struct pnode *kid;
        if ((rc = parse_negation(ps, &kid)))
            return rc;
        add_kid(*out, kid);
    }
    return RC_OK;
}

static int parse_disjunction(struct parser *ps, struct pnode **out)
{
    if (++ps->depth > PRED_MAX_DEPTH)
        return perr(ps, peek(ps)->pos, "nesting deeper than 32 levels");
    struct pnode *first;
    int rc = parse_conjunction(ps, &first);
    if (rc)
        return rc;
    if (!tok_is_kw(peek(ps), "OR")) {
        *out = first;
        ps->depth--;
        return RC_OK;
    }
    if ((rc = new_node(ps, PN_OR, peek(ps)->pos, out)))
        return rc;
    add_kid(*out, first);
    while (tok_is_kw(peek(ps), "OR")) {
        next(ps);
        struct pnode *kid;
        if ((rc = parse_conjunction(ps, &kid)))
            return rc;
        add_kid(*out, kid);
    }
    ps->depth--;
    return RC_OK;
}

static void collect_columns(struct pred *p)
{
    p->cols = xcalloc(p->nnodes ? p->nnodes : 1, sizeof(char *));
    for (size_t i = 0; i < p->nnodes; i++) {
        struct pnode *n = p->all[i];
        if (n->kind != PN_COL)
            continue;
        bool seen = false;
        for (size_t k = 0; k < p->ncols && !seen; k++)
            seen = strcmp(p->cols[k], n->s) == 0;
        if (!seen)
            p->cols[p->ncols++] = n->s;
    }
}

void pred_free(struct pred **pp)
{
    struct pred *p = pp ? *pp : NULL;
    if (!p)
        return;
    for (size_t i = 0; i < p->nnodes; i++) {
        xfree(p->all[i]->kids);
        xfree(p->all[i]->s);
        xfree(p->all[i]->interval);
        xfree(p->all[i]);
    }
    xfree(p->all);
    xfree(p->cols);
    xfree(p);
    *pp = NULL;
}

int pred_parse(const char *text, size_t len, struct pred **out, struct errbuf *eb)
{
    *out = NULL;
    if (len > PRED_MAX_CHARS)
        return errbuf_set(eb, RC_INVALID, "invalid where clause: longer than %d characters",
                          PRED_MAX_CHARS);
    if (memchr(text, '\0', len))
        return errbuf_set(eb, RC_INVALID, "invalid where clause: NUL byte");
    struct parser ps = {.src = text, .len = len, .eb = eb};
    ps.p = xcalloc(1, sizeof(*ps.p));
    ps.p->all = xcalloc(PRED_MAX_NODES, sizeof(*ps.p->all));
    int rc = tokenize(&ps);
    if (rc)
        goto out;
    if (tok_is_kw(peek(&ps), "WHERE"))
        next(&ps);
    if (peek(&ps)->kind == TK_END) {
        rc = errbuf_set(eb, RC_INVALID, "invalid where clause: empty predicate");
        goto out;
    }
    if ((rc = parse_disjunction(&ps, &ps.p->root)))
        goto out;
    if (peek(&ps)->kind != TK_END) {
        struct tok *t = peek(&ps);
        if (tok_is_kw(t, "UNION"))
            rc = perr(&ps, t->pos, "UNION is not allowed");
        else if (t->kind == TK_RPAREN)
            rc = perr(&ps, t->pos, "unbalanced ')'");
        else
            rc = perr(&ps, t->pos, "unexpected text after the predicate");
        goto out;
    }
    collect_columns(ps.p);
    *out = ps.p;
    ps.p = NULL;
out:
    for (size_t i = 0; i < ps.ntoks; i++)
        xfree(ps.toks[i].value);
    xfree(ps.toks);
    pred_free(&ps.p);
    return rc;
}

/* ---- rendering --------------------------------------------------------- */

static int put_quoted(struct strbuf *sb, const char *s, size_t n, char q)
{
    int rc = strbuf_putc(sb, q);
    for (size_t i = 0; i < n && !rc; i++) {
        if (s[i] == q)
            rc = strbuf_putc(sb, q);
        if (!rc)
            rc = strbuf_putc(sb, s[i]);
    }
    return rc ? rc : strbuf_putc(sb, q);
}

static int put_ts(struct strbuf *sb, int64_t us)
{
    char b[64];
    time_format_rfc3339_us(us, b, sizeof(b));
    return strbuf_printf(sb, "TIMESTAMPTZ '%s'", b);
}

static int render(const struct pnode *n, struct strbuf *sb)
{
    int rc = RC_OK;
    switch (n->kind) {
    case PN_OR:
    case PN_AND:
        rc = strbuf_putc(sb, '(');
        for (size_t i = 0; i < n->nkids && !rc; i++) {
            if (i)
                rc = strbuf_puts(sb, n->kind == PN_OR ? " OR " : " AND ");
            if (!rc)
                rc = render(n->kids[i], sb);
        }
        return rc ? rc : strbuf_putc(sb, ')');
    case PN_NOT:
        rc = strbuf_puts(sb, "(NOT ");
        if (!rc)
            rc = render(n->kids[0], sb);
        return rc ? rc : strbuf_putc(sb, ')');
    case PN_CMP:
        rc = strbuf_putc(sb, '(');
        if (!rc)
            rc = render(n->kids[0], sb);
        if (!rc)
            rc = strbuf_printf(sb, " %s ", n->op);
        if (!rc)
            rc = render(n->kids[1], sb);
        return rc ? rc : strbuf_putc(sb, ')');
    case PN_IN:
        rc = strbuf_putc(sb, '(');
        if (!rc)
            rc = render(n->kids[0], sb);
        if (!rc)
            rc = strbuf_puts(sb, n->negated ? " NOT IN (" : " IN (");
        for (size_t i = 1; i < n->nkids && !rc; i++) {
            if (i > 1)
                rc = strbuf_puts(sb, ", ");
            if (!rc)
                rc = render(n->kids[i], sb);
        }
        return rc ? rc : strbuf_puts(sb, "))");
    case PN_BETWEEN:
        rc = strbuf_putc(sb, '(');
        if (!rc)
            rc = render(n->kids[0], sb);
        if (!rc)
            rc = strbuf_puts(sb, n->negated ? " NOT BETWEEN " : " BETWEEN ");
        if (!rc)
            rc = render(n->kids[1], sb);
        if (!rc)
            rc = strbuf_puts(sb, " AND ");
        if (!rc)
            rc = render(n->kids[2], sb);
        return rc ? rc : strbuf_putc(sb, ')');
    case PN_ISNULL:
        rc = strbuf_putc(sb, '(');
        if (!rc)
            rc = render(n->kids[0], sb);
        return rc ? rc : strbuf_puts(sb, n->negated ? " IS NOT NULL)" : " IS NULL)");
    case PN_LIKE:
        rc = strbuf_putc(sb, '(');
        if (!rc)
            rc = render(n->kids[0], sb);
        if (!rc)
            rc = strbuf_printf(sb, " %s%s ", n->negated ? "NOT " : "", n->ilike ? "ILIKE" : "LIKE");
        if (!rc)
            rc = render(n->kids[1], sb);
        return rc ? rc : strbuf_putc(sb, ')');
    case PN_CONST_NUM:
        /* A number used as a predicate is true when non-zero. */
        return strbuf_printf(sb, "(%s <> 0)", n->s);
    case PN_COL: return put_quoted(sb, n->s, n->slen, '"');
    case PN_STR:
        if (n->as_time)
            return put_ts(sb, n->ts_us);
        return put_quoted(sb, n->s, n->slen, '\'');
    case PN_NUM: return strbuf_puts(sb, n->s);
    case PN_TRUE: return strbuf_puts(sb, "TRUE");
    case PN_FALSE: return strbuf_puts(sb, "FALSE");
    case PN_NULL: return strbuf_puts(sb, "NULL");
    case PN_TIME:
        if (n->ivsign)
            rc = strbuf_putc(sb, '(');
        if (!rc) {
            if (n->tbase == TB_NOW)
                rc = strbuf_puts(sb, "now()");
            else if (n->tbase == TB_CURRENT_TIMESTAMP)
                rc = strbuf_puts(sb, "CURRENT_TIMESTAMP");
            else
                rc = put_ts(sb, n->ts_us);
        }
        if (!rc && n->ivsign)
            rc = strbuf_printf(sb, " %c INTERVAL '%s')", n->ivsign, n->interval);
        return rc;
    }
    return RC_INTERNAL;
}

int pred_render(const struct pred *p, struct strbuf *out)
{
    return render(p->root, out);
}

size_t pred_column_count(const struct pred *p)
{
    return p->ncols;
}

const char *pred_column(const struct pred *p, size_t i)
{
    return i < p->ncols ? p->cols[i] : NULL;
}

bool pred_is_constant(const struct pred *p)
{
    return p->ncols == 0;
}

int pred_to_sql(const char *text, size_t len, struct strbuf *out, struct errbuf *eb)
{
    struct pred *p;
    int rc = pred_parse(text, len, &p, eb);
    if (rc)
        return rc;
    rc = pred_render(p, out);
    if (rc)
        errbuf_set(eb, rc, "where clause rendering exceeds the buffer limit");
    pred_free(&p);
    return rc;
}
