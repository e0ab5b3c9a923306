/*
 * util/config.c — loading, precedence, validation, derived values and dump
 * of the configuration (see config.h for the contract).
 *
 * Owns: struct config and its private part (the origin of every value: its
 * source rank, where it came from for messages, and whether it was derived).
 *
 * How a value gets in (apply_value): the input (TOML value or text) is
 * converted for the key's type — through an alias transformation when it was
 * spelled with an alias — then checked against the key's range/flags, and
 * stored only if its source ranks at least as high as the source of the
 * value already there. Checking before the rank gate means an invalid value
 * is reported even when a higher-ranked source would override it.
 *
 * Load order: defaults, file, legacy env, Go-alias env, ARC_ env, then the
 * file's storage.<backend>.database aliases (they depend on the final
 * backend), derived values, cross-key validation.
 *
 * Threads: main thread at startup (see config.h).
 */
#include "util/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/config_internal.h"
#include "util/log.h"
#include "util/mem.h"

extern char **environ;

#define CONFIG_MAX_FILE_BYTES (4u << 20)
#define WHY_MAX 200

struct config_origin {
    enum config_source source;
    bool auto_derived;   /* value was computed from a 0 ("auto") input */
    const char *spelled; /* name used in the input (alias or key), static */
    char where[200];     /* "arc.toml:12", "environment variable X", ... */
};

struct config_priv {
    char *path;                    /* file loaded, or NULL */
    struct config_origin *origins; /* [config__nkeys] */
};

/* A converted value on its way into a config (owning), or a view of one. */
struct cval {
    enum config_type type;
    char *s;
    int64_t i;
    bool b;
    struct config_list list;
};

/* --- small helpers ------------------------------------------------------------ */

static void *field(const struct config *cfg, const struct config_key *k)
{
    return (char *)cfg + k->offset;
}

static void list_free(struct config_list *l)
{
    for (size_t i = 0; i < l->count; i++)
        xfree(l->items[i]);
    xfree(l->items);
    l->items = NULL;
    l->count = 0;
}

static void list_push(struct config_list *l, const char *s, size_t n)
{
    l->items = xrealloc(l->items, (l->count + 1) * sizeof(*l->items));
    l->items[l->count++] = xstrndup(s, n);
}

static void cval_free(struct cval *v)
{
    xfree(v->s);
    v->s = NULL;
    list_free(&v->list);
}

static const char *trim(const char *s, size_t *len)
{
    size_t n = strlen(s);
    while (n && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    *len = n;
    return s;
}

static const char *env_get(char *const *envp, const char *name)
{
    if (!envp)
        return NULL;
    size_t n = strlen(name);
    for (char *const *e = envp; *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

static const char *key_section(const char *name, char *buf, size_t n)
{
    const char *dot = strrchr(name, '.');
    size_t len = dot ? (size_t)(dot - name) : 0;
    if (len >= n)
        len = n - 1;
    memcpy(buf, name, len);
    buf[len] = '\0';
    return buf;
}

static long cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    if (n > 1024)
        n = 1024;
    return n;
}

/* --- text parsers --------------------------------------------------------------- */

static bool parse_i64(const char *text, int64_t *out, char *why)
{
    size_t n;
    const char *s = trim(text, &n);
    size_t i = 0;
    bool neg = false;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    if (i == n)
        goto bad;
    int64_t v = 0;
    bool last_digit = false;
    for (; i < n; i++) {
        char c = s[i];
        if (c == '_' && last_digit && i + 1 < n && isdigit((unsigned char)s[i + 1])) {
            last_digit = false;
            continue;
        }
        if (!isdigit((unsigned char)c))
            goto bad;
        int d = c - '0';
        /* Accumulate negatively so INT64_MIN is reachable. */
        if (v < (INT64_MIN + d) / 10) {
            snprintf(why, WHY_MAX, "integer out of range: '%.40s'", s);
            return false;
        }
        v = v * 10 - d;
        last_digit = true;
    }
    if (!neg && v == INT64_MIN) {
        snprintf(why, WHY_MAX, "integer out of range: '%.40s'", s);
        return false;
    }
    *out = neg ? v : -v;
    return true;
bad:
    snprintf(why, WHY_MAX, "expected an integer, got '%.*s'", (int)(n > 64 ? 64 : n), s);
    return false;
}

static bool parse_bool(const char *text, bool *out, char *why)
{
    static const char *const t[] = {"true", "1", "yes", "on"};
    static const char *const f[] = {"false", "0", "no", "off"};
    size_t n;
    const char *s = trim(text, &n);
    for (size_t i = 0; i < 4; i++) {
        if (strlen(t[i]) == n && strncasecmp(s, t[i], n) == 0) {
            *out = true;
            return true;
        }
        if (strlen(f[i]) == n && strncasecmp(s, f[i], n) == 0) {
            *out = false;
            return true;
        }
    }
    snprintf(why, WHY_MAX, "expected a boolean (true/false/1/0/yes/no/on/off), got '%.*s'",
             (int)(n > 64 ? 64 : n), s);
    return false;
}

/* "1GB", "512 MiB", "1.5g", "1073741824" (bytes); binary units. */
static bool parse_size_bytes(const char *text, double *out, char *why)
{
    size_t n;
    const char *s = trim(text, &n);
    size_t i = 0;
    while (i < n && isdigit((unsigned char)s[i]))
        i++;
    size_t int_digits = i;
    if (i < n && s[i] == '.') {
        i++;
        size_t f = i;
        while (i < n && isdigit((unsigned char)s[i]))
            i++;
        if (i == f)
            int_digits = 0; /* "1." is malformed */
    }
    if (int_digits == 0 || int_digits > 15)
        goto bad;
    char num[40];
    memcpy(num, s, i);
    num[i] = '\0';
    double v = strtod(num, NULL);
    while (i < n && s[i] == ' ')
        i++;
    static const struct {
        const char *u;
        double mult;
    } units[] = {
        {"", 1.0},
        {"b", 1.0},
        {"k", 1024.0},
        {"kb", 1024.0},
        {"kib", 1024.0},
        {"m", 1048576.0},
        {"mb", 1048576.0},
        {"mib", 1048576.0},
        {"g", 1073741824.0},
        {"gb", 1073741824.0},
        {"gib", 1073741824.0},
        {"t", 1099511627776.0},
        {"tb", 1099511627776.0},
        {"tib", 1099511627776.0},
    };
    size_t ulen = n - i;
    for (size_t k = 0; k < sizeof(units) / sizeof(units[0]); k++) {
        if (strlen(units[k].u) == ulen && strncasecmp(s + i, units[k].u, ulen) == 0) {
            *out = v * units[k].mult;
            if (*out <= 0) {
                snprintf(why, WHY_MAX, "size must be greater than 0");
                return false;
            }
            return true;
        }
    }
bad:
    snprintf(why, WHY_MAX, "expected a size such as \"1GB\" or \"512MB\", got '%.*s'",
             (int)(n > 64 ? 64 : n), s);
    return false;
}

/* Matches text against the key's choices (case-insensitive). */
static bool enum_match(const struct config_key *k, const char *text, struct cval *out, char *why)
{
    size_t n;
    const char *s = trim(text, &n);
    for (const char *const *c = k->choices; *c; c++) {
        const char *eq = strchr(*c, '=');
        size_t clen = eq ? (size_t)(eq - *c) : strlen(*c);
        if (clen == n && strncasecmp(s, *c, n) == 0) {
            out->type = CT_ENUM;
            out->s = xstrdup(eq ? eq + 1 : *c);
            return true;
        }
    }
    char list[120] = "";
    size_t o = 0;
    for (const char *const *c = k->choices; *c; c++) {
        if (strchr(*c, '='))
            continue;
        int w = snprintf(list + o, sizeof(list) - o, "%s%s", o ? ", " : "", *c);
        if (w < 0 || (size_t)w >= sizeof(list) - o)
            break;
        o += (size_t)w;
    }
    snprintf(why, WHY_MAX, "unknown value '%.*s' (expected one of: %s)", (int)(n > 40 ? 40 : n), s,
             list);
    return false;
}

/* Comma-separated list; items trimmed, empty items dropped. For sort keys a
 * piece without ':' continues the previous entry ("cpu:host,region,mem:a"
 * is ["cpu:host,region", "mem:a"]). */
static void split_list(const struct config_key *k, const char *text, size_t len,
                       struct config_list *out)
{
    size_t i = 0;
    while (i <= len) {
        size_t j = i;
        while (j < len && text[j] != ',')
            j++;
        size_t a = i, b = j;
        while (a < b && isspace((unsigned char)text[a]))
            a++;
        while (b > a && isspace((unsigned char)text[b - 1]))
            b--;
        if (b > a) {
            bool cont = (k->flags & CF_SORTKEYS) && out->count && !memchr(text + a, ':', b - a);
            if (cont) {
                char **last = &out->items[out->count - 1];
                size_t ln = strlen(*last);
                char *m = xmalloc(ln + 1 + (b - a) + 1);
                memcpy(m, *last, ln);
                m[ln] = ',';
                memcpy(m + ln + 1, text + a, b - a);
                m[ln + 1 + (b - a)] = '\0';
                xfree(*last);
                *last = m;
            } else {
                list_push(out, text + a, b - a);
            }
        }
        i = j + 1;
    }
}

/* --- conversion ------------------------------------------------------------------ */

static const char *toml_kind_name(enum toml_kind k)
{
    switch (k) {
    case TOML_STRING: return "a string";
    case TOML_INT: return "an integer";
    case TOML_FLOAT: return "a float";
    case TOML_BOOL: return "a boolean";
    case TOML_ARRAY: return "an array";
    }
    return "a value";
}

static const char *type_name(enum config_type t)
{
    switch (t) {
    case CT_STR: return "a string";
    case CT_INT: return "an integer";
    case CT_BOOL: return "a boolean";
    case CT_ENUM: return "a string";
    case CT_LIST: return "an array of strings";
    }
    return "a value";
}

/* Go log levels/formats onto ours (text in, mapped text out, static). */
static const char *go_log_map(enum config_xform x, const char *text)
{
    size_t n;
    const char *s = trim(text, &n);
    static const char *const level_map[][2] = {
        {"trace", "DEBUG"}, {"fatal", "ERROR"}, {"panic", "ERROR"}};
    static const char *const format_map[][2] = {{"json", "structured"}, {"console", "text"}};
    if (x == XF_GO_LOG_LEVEL) {
        for (size_t i = 0; i < 3; i++)
            if (strlen(level_map[i][0]) == n && strncasecmp(s, level_map[i][0], n) == 0)
                return level_map[i][1];
    } else {
        for (size_t i = 0; i < 2; i++)
            if (strlen(format_map[i][0]) == n && strncasecmp(s, format_map[i][0], n) == 0)
                return format_map[i][1];
    }
    return text;
}

static bool mb_from_bytes(double bytes, struct cval *out, char *why)
{
    double mb = bytes / 1048576.0;
    if (mb > (double)(INT64_C(1) << 40)) {
        snprintf(why, WHY_MAX, "size too large");
        return false;
    }
    int64_t m = (int64_t)mb;
    if ((double)m < mb)
        m++;
    out->type = CT_INT;
    out->i = m;
    return true;
}

static bool ms_to_s(int64_t ms, struct cval *out, char *why)
{
    if (ms < 0) {
        snprintf(why, WHY_MAX, "milliseconds must not be negative");
        return false;
    }
    out->type = CT_INT;
    out->i = ms / 1000 + (ms % 1000 != 0);
    return true;
}

/* Converts environment/--set text for key k (through alias transform x). */
static bool conv_text(const struct config_key *k, enum config_xform x, const char *text,
                      struct cval *out, char *why)
{
    memset(out, 0, sizeof(*out));
    switch (x) {
    case XF_MS_TO_S: {
        int64_t ms;
        return parse_i64(text, &ms, why) && ms_to_s(ms, out, why);
    }
    case XF_SIZE_TO_MB: {
        double bytes;
        return parse_size_bytes(text, &bytes, why) && mb_from_bytes(bytes, out, why);
    }
    case XF_GO_LOG_LEVEL:
    case XF_GO_LOG_FORMAT: return enum_match(k, go_log_map(x, text), out, why);
    case XF_NONE:
    case XF_BACKEND_DB: break;
    }
    out->type = k->type;
    switch (k->type) {
    case CT_STR: out->s = xstrdup(text); return true;
    case CT_INT: return parse_i64(text, &out->i, why);
    case CT_BOOL: return parse_bool(text, &out->b, why);
    case CT_ENUM: return enum_match(k, text, out, why);
    case CT_LIST: split_list(k, text, strlen(text), &out->list); return true;
    }
    return false;
}

static bool toml_string_ok(const struct toml_val *tv, char *why)
{
    if (memchr(tv->s, '\0', tv->slen)) {
        snprintf(why, WHY_MAX, "string contains a NUL character");
        return false;
    }
    return true;
}

static bool want_kind(const struct toml_val *tv, enum toml_kind kind, const char *expected,
                      char *why)
{
    if (tv->kind == kind)
        return kind != TOML_STRING || toml_string_ok(tv, why);
    snprintf(why, WHY_MAX, "expected %s, got %s", expected, toml_kind_name(tv->kind));
    return false;
}

/* Converts a TOML value for key k (through alias transform x). */
static bool conv_toml(const struct config_key *k, enum config_xform x, const struct toml_val *tv,
                      struct cval *out, char *why)
{
    memset(out, 0, sizeof(*out));
    switch (x) {
    case XF_MS_TO_S:
        return want_kind(tv, TOML_INT, "an integer (milliseconds)", why) &&
               ms_to_s(tv->i, out, why);
    case XF_SIZE_TO_MB: {
        double bytes;
        if (tv->kind == TOML_INT) {
            if (tv->i <= 0) {
                snprintf(why, WHY_MAX, "size must be greater than 0");
                return false;
            }
            return mb_from_bytes((double)tv->i, out, why);
        }
        return want_kind(tv, TOML_STRING, "a size such as \"1GB\"", why) &&
               parse_size_bytes(tv->s, &bytes, why) && mb_from_bytes(bytes, out, why);
    }
    case XF_GO_LOG_LEVEL:
    case XF_GO_LOG_FORMAT:
        return want_kind(tv, TOML_STRING, "a string", why) &&
               enum_match(k, go_log_map(x, tv->s), out, why);
    case XF_NONE:
    case XF_BACKEND_DB: break;
    }
    out->type = k->type;
    switch (k->type) {
    case CT_STR:
        if (!want_kind(tv, TOML_STRING, "a string", why))
            return false;
        out->s = xstrndup(tv->s, tv->slen);
        return true;
    case CT_INT:
        if (!want_kind(tv, TOML_INT, "an integer", why))
            return false;
        out->i = tv->i;
        return true;
    case CT_BOOL:
        if (!want_kind(tv, TOML_BOOL, "a boolean", why))
            return false;
        out->b = tv->b;
        return true;
    case CT_ENUM:
        return want_kind(tv, TOML_STRING, "a string", why) && enum_match(k, tv->s, out, why);
    case CT_LIST:
        if (tv->kind == TOML_STRING) { /* "a,b" accepted like the environment form */
            if (!toml_string_ok(tv, why))
                return false;
            split_list(k, tv->s, tv->slen, &out->list);
            return true;
        }
        if (tv->kind != TOML_ARRAY) {
            snprintf(why, WHY_MAX, "expected %s, got %s", type_name(k->type),
                     toml_kind_name(tv->kind));
            return false;
        }
        for (size_t i = 0; i < tv->n; i++) {
            if (tv->items[i].kind != TOML_STRING) {
                snprintf(why, WHY_MAX, "expected an array of strings, element %zu is %s", i + 1,
                         toml_kind_name(tv->items[i].kind));
                list_free(&out->list);
                return false;
            }
            if (!toml_string_ok(&tv->items[i], why)) {
                list_free(&out->list);
                return false;
            }
            list_push(&out->list, tv->items[i].s, tv->items[i].slen);
        }
        return true;
    }
    return false;
}

/* --- value checks ------------------------------------------------------------------ */

static bool name_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max || !isalpha((unsigned char)s[0]))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-')
            return false;
    return true;
}

static bool cron_num(const char *s, size_t n, long lo, long hi, long *out)
{
    if (n == 0 || n > 4)
        return false;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    if (v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* One cron field: comma list of "*", "*\/n", "a", "a-b", "a-b/n", "a/n". */
static bool cron_field_ok(const char *s, size_t n, long lo, long hi)
{
    size_t i = 0;
    while (i <= n) {
        size_t j = i;
        while (j < n && s[j] != ',')
            j++;
        const char *it = s + i;
        size_t len = j - i;
        const char *slash = memchr(it, '/', len);
        size_t base_len = slash ? (size_t)(slash - it) : len;
        long a, b, step;
        if (base_len == 1 && it[0] == '*') {
            /* any */
        } else {
            const char *dash = memchr(it, '-', base_len);
            if (dash) {
                if (!cron_num(it, (size_t)(dash - it), lo, hi, &a) ||
                    !cron_num(dash + 1, base_len - (size_t)(dash - it) - 1, lo, hi, &b) || a > b)
                    return false;
            } else if (!cron_num(it, base_len, lo, hi, &a)) {
                return false;
            }
        }
        if (slash && !cron_num(slash + 1, len - base_len - 1, 1, hi - lo + 1, &step))
            return false;
        i = j + 1;
    }
    return true;
}

static bool cron_ok(const char *expr, char *why)
{
    static const struct {
        const char *name;
        long lo, hi;
    } f[5] = {{"minute", 0, 59},
              {"hour", 0, 23},
              {"day of month", 1, 31},
              {"month", 1, 12},
              {"day of week", 0, 7}};
    const char *p = expr;
    int nf = 0;
    while (*p) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        const char *s = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        if (nf >= 5) {
            snprintf(why, WHY_MAX,
                     "cron expression must have 5 fields (minute hour "
                     "day-of-month month day-of-week)");
            return false;
        }
        if (!cron_field_ok(s, (size_t)(p - s), f[nf].lo, f[nf].hi)) {
            snprintf(why, WHY_MAX,
                     "invalid cron %s field '%.*s' (allowed %ld-%ld, *, lists, "
                     "ranges, /step)",
                     f[nf].name, (int)(p - s > 20 ? 20 : p - s), s, f[nf].lo, f[nf].hi);
            return false;
        }
        nf++;
    }
    if (nf != 5) {
        snprintf(why, WHY_MAX,
                 "cron expression must have 5 fields (minute hour day-of-month month day-of-week)");
        return false;
    }
    return true;
}

static bool memsize_ok(const char *s)
{
    size_t n;
    s = trim(s, &n);
    if (n == 0)
        return true;
    size_t i = 0;
    while (i < n && isdigit((unsigned char)s[i]))
        i++;
    if (i == 0)
        return false;
    if (i < n && s[i] == '.') {
        size_t f = ++i;
        while (i < n && isdigit((unsigned char)s[i]))
            i++;
        if (i == f)
            return false;
    }
    while (i < n && s[i] == ' ')
        i++;
    static const char *const units[] = {"",    "b",   "kb",  "mb",  "gb", "tb",
                                        "kib", "mib", "gib", "tib", "%"};
    for (size_t k = 0; k < sizeof(units) / sizeof(units[0]); k++)
        if (strlen(units[k]) == n - i && strncasecmp(s + i, units[k], n - i) == 0)
            return true;
    return false;
}

static bool sortkey_ok(const char *e, char *why)
{
    const char *colon = strchr(e, ':');
    if (!colon) {
        snprintf(why, WHY_MAX, "entry '%.60s' must look like \"measurement:col1,col2\"", e);
        return false;
    }
    char meas[160];
    size_t mn = (size_t)(colon - e);
    while (mn && isspace((unsigned char)e[mn - 1]))
        mn--;
    const char *ms = e;
    while (mn && isspace((unsigned char)*ms)) {
        ms++;
        mn--;
    }
    if (mn >= sizeof(meas))
        mn = sizeof(meas) - 1;
    memcpy(meas, ms, mn);
    meas[mn] = '\0';
    if (!name_ok(meas, 128)) {
        snprintf(why, WHY_MAX, "entry '%.60s': invalid measurement name", e);
        return false;
    }
    const char *c = colon + 1;
    for (;;) {
        const char *end = strchr(c, ',');
        size_t len = end ? (size_t)(end - c) : strlen(c);
        size_t a = 0;
        while (a < len && isspace((unsigned char)c[a]))
            a++;
        if (a == len) {
            snprintf(why, WHY_MAX, "entry '%.60s': empty column name", e);
            return false;
        }
        if (!end)
            break;
        c = end + 1;
    }
    return true;
}

static bool origin_ok(const char *o)
{
    if (strcmp(o, "*") == 0)
        return true;
    const char *host = NULL;
    if (strncmp(o, "http://", 7) == 0)
        host = o + 7;
    else if (strncmp(o, "https://", 8) == 0)
        host = o + 8;
    if (!host || !*host)
        return false;
    for (const char *p = host; *p; p++)
        if (isspace((unsigned char)*p) || *p == '/')
            return false;
    return true;
}

/* Per-key checks (range, flags). why never holds a secret. */
static bool check_value(const struct config_key *k, const struct cval *v, char *why)
{
    switch (k->type) {
    case CT_INT:
        if (v->i < k->min || v->i > k->max) {
            snprintf(why, WHY_MAX, "%lld is out of range %lld..%lld", (long long)v->i,
                     (long long)k->min, (long long)k->max);
            return false;
        }
        return true;
    case CT_BOOL:
    case CT_ENUM: return true;
    case CT_STR: {
        const char *s = v->s ? v->s : "";
        size_t n = strlen(s);
        if ((k->flags & CF_NONEMPTY) && n == 0) {
            snprintf(why, WHY_MAX, "must not be empty");
            return false;
        }
        if (k->flags & CF_NOSPACE)
            for (size_t i = 0; i < n; i++)
                if (isspace((unsigned char)s[i])) {
                    snprintf(why, WHY_MAX, "must not contain whitespace");
                    return false;
                }
        if ((k->flags & CF_TOKEN) && n > 0 && n < 32) {
            snprintf(why, WHY_MAX, "must be empty or at least 32 characters long (has %zu)", n);
            return false;
        }
        if ((k->flags & CF_CRON) || ((k->flags & CF_CRON_OR_EMPTY) && n > 0))
            return cron_ok(s, why);
        if ((k->flags & CF_DBNAME) && !name_ok(s, 64)) {
            snprintf(why, WHY_MAX,
                     "invalid database name '%.64s' (letter first, then letters, digits, '_' or "
                     "'-'; at most 64)",
                     s);
            return false;
        }
        if ((k->flags & CF_MEMSIZE) && !memsize_ok(s)) {
            snprintf(why, WHY_MAX,
                     "invalid memory limit '%.40s' (e.g. \"8GB\", \"512MiB\", "
                     "\"50%%\")",
                     s);
            return false;
        }
        return true;
    }
    case CT_LIST:
        for (size_t i = 0; i < v->list.count; i++) {
            const char *e = v->list.items[i];
            if (!*e) {
                snprintf(why, WHY_MAX, "element %zu is empty", i + 1);
                return false;
            }
            if ((k->flags & CF_SORTKEYS) && !sortkey_ok(e, why))
                return false;
            if ((k->flags & CF_PATHS) && e[0] != '/') {
                snprintf(why, WHY_MAX, "element '%.60s' must start with '/'", e);
                return false;
            }
            if ((k->flags & CF_ORIGINS) && !origin_ok(e)) {
                snprintf(why, WHY_MAX,
                         "element '%.60s' must be \"*\" or an origin like https://host:port", e);
                return false;
            }
        }
        return true;
    }
    return false;
}

/* Non-owning view of key k's current value. */
static struct cval view_of(const struct config *cfg, const struct config_key *k)
{
    struct cval v = {.type = k->type};
    void *p = field(cfg, k);
    switch (k->type) {
    case CT_STR:
    case CT_ENUM: v.s = *(char **)p; break;
    case CT_INT: v.i = *(int64_t *)p; break;
    case CT_BOOL: v.b = *(bool *)p; break;
    case CT_LIST: v.list = *(struct config_list *)p; break;
    }
    return v;
}

/* --- storing and applying ---------------------------------------------------------- */

static size_t key_index(const struct config_key *k)
{
    return (size_t)(k - config__keys);
}

static void store(struct config *cfg, const struct config_key *k, struct cval *v,
                  enum config_source src, const char *where, const char *spelled)
{
    void *p = field(cfg, k);
    switch (k->type) {
    case CT_STR:
    case CT_ENUM:
        xfree(*(char **)p);
        *(char **)p = v->s;
        v->s = NULL;
        break;
    case CT_INT: *(int64_t *)p = v->i; break;
    case CT_BOOL: *(bool *)p = v->b; break;
    case CT_LIST:
        list_free((struct config_list *)p);
        *(struct config_list *)p = v->list;
        v->list = (struct config_list){0};
        break;
    }
    struct config_origin *o = &cfg->priv->origins[key_index(k)];
    o->source = src;
    o->auto_derived = false;
    o->spelled = spelled;
    snprintf(o->where, sizeof(o->where), "%s", where);
}

static int value_error(struct errbuf *eb, const char *where, const struct config_key *k,
                       const char *spelled, const char *why)
{
    if (spelled && strcmp(spelled, k->name) != 0)
        return errbuf_set(eb, RC_INVALID, "config: %s: %s (alias of %s): %s", where, spelled,
                          k->name, why);
    return errbuf_set(eb, RC_INVALID, "config: %s: %s: %s", where, k->name, why);
}

/* One input for a key: exactly one of tv and text is set. */
static int apply_value(struct config *cfg, const struct config_key *k,
                       const struct config_alias *alias, const struct toml_val *tv,
                       const char *text, enum config_source src, const char *where,
                       struct errbuf *eb)
{
    char why[WHY_MAX];
    struct cval v;
    enum config_xform x = alias ? alias->xform : XF_NONE;
    const char *spelled = alias ? alias->name : k->name;
    bool ok = tv ? conv_toml(k, x, tv, &v, why) : conv_text(k, x, text, &v, why);
    if (!ok) {
        cval_free(&v);
        return value_error(eb, where, k, spelled, why);
    }
    if (!check_value(k, &v, why)) {
        cval_free(&v);
        return value_error(eb, where, k, spelled, why);
    }
    if (src >= cfg->priv->origins[key_index(k)].source)
        store(cfg, k, &v, src, where, spelled);
    cval_free(&v);
    return RC_OK;
}

/* --- derived values ------------------------------------------------------------------ */

static void derive_auto(struct config *cfg, const char *name, int64_t *val, int64_t computed)
{
    long idx = config__key_find(name, NULL);
    struct config_origin *o = &cfg->priv->origins[idx];
    if (*val == 0 || o->auto_derived) {
        *val = computed;
        o->auto_derived = true;
    }
}

/* Resolves the derived values listed in config.h. Safe to call repeatedly:
 * a value derived earlier follows its base (auto_derived). */
static void derive(struct config *cfg)
{
    int64_t ncpu = cpu_count();
    derive_auto(cfg, "ingestion.buffer_hard_limit", &cfg->ingestion.buffer_hard_limit,
                2 * cfg->ingestion.buffer_size);
    derive_auto(cfg, "server.io_threads", &cfg->server.io_threads, ncpu);
    derive_auto(cfg, "duckdb.threads", &cfg->duckdb.threads, ncpu);
    if (cfg->compaction.min_age_hours < 1) {
        long idx = config__key_find("compaction.min_age_hours", NULL);
        log_warn("config", "compaction.min_age_hours below 1, using 1 value=%lld origin=%s",
                 (long long)cfg->compaction.min_age_hours, cfg->priv->origins[idx].where);
        cfg->compaction.min_age_hours = 1;
    }
}

/* --- validation ------------------------------------------------------------------------ */

static int key_error(const struct config *cfg, struct errbuf *eb, const char *name, const char *fmt,
                     ...) ARC_PRINTF(4, 5);

static int key_error(const struct config *cfg, struct errbuf *eb, const char *name, const char *fmt,
                     ...)
{
    long idx = config__key_find(name, NULL);
    const struct config_origin *o = &cfg->priv->origins[idx];
    char why[WHY_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    return value_error(eb, o->where, &config__keys[idx], o->spelled, why);
}

static bool empty(const char *s)
{
    return !s || !*s;
}

static int validate_cross(const struct config *cfg, struct errbuf *eb)
{
    const struct config_storage *st = &cfg->storage;
    if (strcmp(st->backend, "s3") == 0) {
        if (empty(st->s3.bucket))
            return key_error(cfg, eb, "storage.s3.bucket",
                             "required when storage.backend = \"s3\"");
        if (empty(st->s3.access_key) != empty(st->s3.secret_key))
            return key_error(cfg, eb,
                             empty(st->s3.access_key) ? "storage.s3.access_key"
                                                      : "storage.s3.secret_key",
                             "storage.s3.access_key and storage.s3.secret_key must be set "
                             "together (or both left empty for the AWS credential chain)");
    } else if (strcmp(st->backend, "gcs") == 0) {
        if (empty(st->gcs.bucket))
            return key_error(cfg, eb, "storage.gcs.bucket",
                             "required when storage.backend = \"gcs\"");
        if (empty(st->gcs.hmac_key_id))
            return key_error(cfg, eb, "storage.gcs.hmac_key_id",
                             "required when storage.backend = \"gcs\"");
        if (empty(st->gcs.hmac_secret))
            return key_error(cfg, eb, "storage.gcs.hmac_secret",
                             "required when storage.backend = \"gcs\"");
    } else if (strcmp(st->backend, "minio") == 0) {
        if (empty(st->minio.endpoint))
            return key_error(cfg, eb, "storage.minio.endpoint",
                             "required when storage.backend = \"minio\"");
        if (empty(st->minio.access_key))
            return key_error(cfg, eb, "storage.minio.access_key",
                             "required when storage.backend = \"minio\"");
        if (empty(st->minio.secret_key))
            return key_error(cfg, eb, "storage.minio.secret_key",
                             "required when storage.backend = \"minio\"");
        if (empty(st->minio.bucket))
            return key_error(cfg, eb, "storage.minio.bucket",
                             "required when storage.backend = \"minio\"");
    }
    if (cfg->server.tls_enabled) {
        if (empty(cfg->server.tls_cert_file))
            return key_error(cfg, eb, "server.tls_cert_file",
                             "required when server.tls_enabled = true");
        if (empty(cfg->server.tls_key_file))
            return key_error(cfg, eb, "server.tls_key_file",
                             "required when server.tls_enabled = true");
    }
    if (cfg->ingestion.buffer_hard_limit < cfg->ingestion.buffer_size)
        return key_error(cfg, eb, "ingestion.buffer_hard_limit",
                         "%lld is below ingestion.buffer_size (%lld); use 0 for 2 x buffer_size",
                         (long long)cfg->ingestion.buffer_hard_limit,
                         (long long)cfg->ingestion.buffer_size);
    if (cfg->wal.max_total_size_mb != 0 && cfg->wal.max_total_size_mb < cfg->wal.max_size_mb)
        return key_error(cfg, eb, "wal.max_total_size_mb",
                         "%lld is below wal.max_size_mb (%lld); use 0 for unlimited",
                         (long long)cfg->wal.max_total_size_mb, (long long)cfg->wal.max_size_mb);
    if (strcmp(cfg->compaction.compression, "gzip") == 0 && cfg->compaction.compression_level > 9)
        return key_error(cfg, eb, "compaction.compression_level",
                         "%lld is out of range 1..9 for gzip",
                         (long long)cfg->compaction.compression_level);
    if (cfg->query_cache.max_result_mb > cfg->query_cache.max_total_mb)
        return key_error(
            cfg, eb, "query_cache.max_result_mb", "%lld is above query_cache.max_total_mb (%lld)",
            (long long)cfg->query_cache.max_result_mb, (long long)cfg->query_cache.max_total_mb);
    if (cfg->monitoring.failure_unhealthy_threshold < cfg->monitoring.failure_warn_threshold)
        return key_error(cfg, eb, "monitoring.failure_unhealthy_threshold",
                         "%lld is below monitoring.failure_warn_threshold (%lld)",
                         (long long)cfg->monitoring.failure_unhealthy_threshold,
                         (long long)cfg->monitoring.failure_warn_threshold);
    return RC_OK;
}

int config_validate(const struct config *cfg, struct errbuf *eb)
{
    char why[WHY_MAX];
    for (size_t i = 0; i < config__nkeys; i++) {
        const struct config_key *k = &config__keys[i];
        struct cval v = view_of(cfg, k);
        if (!check_value(k, &v, why)) {
            const struct config_origin *o = &cfg->priv->origins[i];
            return value_error(eb, o->where, k, o->spelled, why);
        }
    }
    return validate_cross(cfg, eb);
}

/* Non-fatal oddities, logged once at load. */
static void load_warnings(const struct config *cfg)
{
    if (cfg->auth.force_bootstrap && empty(cfg->auth.bootstrap_token))
        log_warn("config", "auth.force_bootstrap is set without auth.bootstrap_token; ignored");
    if (cfg->server.max_inflight_body_mb < cfg->server.max_decompressed_size_mb)
        log_warn("config",
                 "server.max_inflight_body_mb is below server.max_decompressed_size_mb; large "
                 "bodies will always get 503 inflight_mb=%lld decompressed_mb=%lld",
                 (long long)cfg->server.max_inflight_body_mb,
                 (long long)cfg->server.max_decompressed_size_mb);
}

/* --- lifecycle ----------------------------------------------------------------------------- */

static struct config *alloc_config(void)
{
    struct config *cfg = xcalloc(1, sizeof(*cfg));
    cfg->priv = xcalloc(1, sizeof(*cfg->priv));
    cfg->priv->origins = xcalloc(config__nkeys, sizeof(*cfg->priv->origins));
    return cfg;
}

static void apply_defaults(struct config *cfg)
{
    struct errbuf eb;
    errbuf_clear(&eb);
    for (size_t i = 0; i < config__nkeys; i++) {
        const struct config_key *k = &config__keys[i];
        if (apply_value(cfg, k, NULL, NULL, k->def, CONFIG_SRC_DEFAULT, "built-in default", &eb) !=
            RC_OK) {
            /* A bad default is a bug in the table; config__table_check's
             * unit test catches it before it ships. */
            fprintf(stderr, "arc: %s\n", eb.msg);
            abort();
        }
    }
}

struct config *config_new(void)
{
    struct config *cfg = alloc_config();
    apply_defaults(cfg);
    derive(cfg);
    return cfg;
}

void config_free(struct config **pcfg)
{
    if (!pcfg || !*pcfg)
        return;
    struct config *cfg = *pcfg;
    for (size_t i = 0; i < config__nkeys; i++) {
        const struct config_key *k = &config__keys[i];
        void *p = field(cfg, k);
        if (k->type == CT_STR || k->type == CT_ENUM)
            xfree(*(char **)p);
        else if (k->type == CT_LIST)
            list_free((struct config_list *)p);
    }
    if (cfg->priv) {
        xfree(cfg->priv->path);
        xfree(cfg->priv->origins);
        xfree(cfg->priv);
    }
    xfree(cfg);
    *pcfg = NULL;
}

static struct config *clone_config(const struct config *src)
{
    struct config *c = alloc_config();
    for (size_t i = 0; i < config__nkeys; i++) {
        const struct config_key *k = &config__keys[i];
        const void *sp = field(src, k);
        void *dp = field(c, k);
        switch (k->type) {
        case CT_STR:
        case CT_ENUM: *(char **)dp = *(char *const *)sp ? xstrdup(*(char *const *)sp) : NULL; break;
        case CT_INT: *(int64_t *)dp = *(const int64_t *)sp; break;
        case CT_BOOL: *(bool *)dp = *(const bool *)sp; break;
        case CT_LIST: {
            const struct config_list *sl = sp;
            struct config_list *dl = dp;
            for (size_t j = 0; j < sl->count; j++)
                list_push(dl, sl->items[j], strlen(sl->items[j]));
            break;
        }
        }
    }
    memcpy(c->priv->origins, src->priv->origins, config__nkeys * sizeof(*c->priv->origins));
    c->priv->path = src->priv->path ? xstrdup(src->priv->path) : NULL;
    return c;
}

/* --- file ----------------------------------------------------------------------------------- */

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int read_file(const char *path, char **out, size_t *out_len, struct errbuf *eb)
{
    int rc = RC_OK;
    char *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return errbuf_set(eb, RC_IO, "config: cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        rc = errbuf_set(eb, RC_IO, "config: cannot stat %s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = errbuf_set(eb, RC_IO, "config: %s is not a regular file", path);
        goto out;
    }
    if ((uintmax_t)st.st_size > CONFIG_MAX_FILE_BYTES) {
        rc = errbuf_set(eb, RC_LIMIT, "config: %s is larger than %u bytes", path,
                        CONFIG_MAX_FILE_BYTES);
        goto out;
    }
    size_t n = (size_t)st.st_size;
    buf = xmalloc(n + 1);
    if (n && fread(buf, 1, n, f) != n) {
        rc = errbuf_set(eb, RC_IO, "config: cannot read %s: %s", path,
                        ferror(f) ? strerror(errno) : "short read");
        goto out;
    }
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    buf = NULL;
out:
    xfree(buf);
    fclose(f);
    return rc;
}

/* True if some key or alias lives in section s (or below it). */
static bool section_known(const char *s)
{
    size_t n = strlen(s);
    if (n == 0)
        return false;
    for (size_t i = 0; i < config__nkeys; i++) {
        const struct config_key *k = &config__keys[i];
        if (strncmp(k->name, s, n) == 0 && k->name[n] == '.')
            return true;
        for (size_t a = 0; a < CONFIG_MAX_ALIASES && k->aliases[a].name; a++)
            if (strncmp(k->aliases[a].name, s, n) == 0 && k->aliases[a].name[n] == '.')
                return true;
    }
    return false;
}

struct warned {
    char **items;
    size_t n;
};

/* Warns about unknown section s once (and not again for its sub-sections). */
static void warn_section(struct warned *w, const char *s, const char *file, int line)
{
    for (size_t i = 0; i < w->n; i++) {
        size_t n = strlen(w->items[i]);
        if (strncmp(w->items[i], s, n) == 0 && (s[n] == '\0' || s[n] == '.'))
            return;
    }
    w->items = xrealloc(w->items, (w->n + 1) * sizeof(*w->items));
    w->items[w->n++] = xstrdup(s);
    log_warn("config", "unknown section ignored section=[%s] file=%s line=%d", s, file, line);
}

struct pending_db {
    const struct config_alias *alias;
    const struct toml_val *val;
    int line;
};

static int apply_file(struct config *cfg, const struct toml_doc *doc, const char *path,
                      struct pending_db *pending, size_t *npending, struct errbuf *eb)
{
    struct warned w = {0};
    int rc = RC_OK;
    char where[sizeof(((struct config_origin *)0)->where)];
    for (size_t i = 0; i < doc->n && rc == RC_OK; i++) {
        const struct toml_item *it = &doc->items[i];
        if (it->is_table) {
            if (!section_known(it->path))
                warn_section(&w, it->path, path, it->line);
            continue;
        }
        const struct config_alias *alias = NULL;
        long idx = config__key_find(it->path, &alias);
        if (idx < 0) {
            char sect[256];
            key_section(it->path, sect, sizeof(sect));
            if (sect[0] && !section_known(sect))
                warn_section(&w, sect, path, it->line);
            else
                log_warn("config", "unknown key ignored key=%s file=%s line=%d", it->path, path,
                         it->line);
            continue;
        }
        if (alias && alias->xform == XF_BACKEND_DB) {
            /* Each alias appears at most once (duplicate keys are parse
             * errors), so CONFIG_MAX_ALIASES slots suffice. */
            if (*npending < CONFIG_MAX_ALIASES)
                pending[(*npending)++] = (struct pending_db){alias, &it->val, it->line};
            continue;
        }
        snprintf(where, sizeof(where), "%s:%d", path, it->line);
        rc = apply_value(cfg, &config__keys[idx], alias, &it->val, NULL,
                         alias ? CONFIG_SRC_FILE_ALIAS : CONFIG_SRC_FILE, where, eb);
    }
    for (size_t i = 0; i < w.n; i++)
        xfree(w.items[i]);
    xfree(w.items);
    return rc;
}

/* storage.<backend>.database [Py]: only the configured backend's counts. */
static int apply_pending_db(struct config *cfg, const struct pending_db *pending, size_t n,
                            const char *path, struct errbuf *eb)
{
    char want[64];
    snprintf(want, sizeof(want), "storage.%s.database", cfg->storage.backend);
    long idx = config__key_find("storage.database", NULL);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(pending[i].alias->name, want) != 0)
            continue;
        char where[sizeof(((struct config_origin *)0)->where)];
        snprintf(where, sizeof(where), "%s:%d", path, pending[i].line);
        return apply_value(cfg, &config__keys[idx], pending[i].alias, pending[i].val, NULL,
                           CONFIG_SRC_FILE_ALIAS, where, eb);
    }
    return RC_OK;
}

/* --- environment ---------------------------------------------------------------------------- */

static int apply_env_one(struct config *cfg, const struct config_key *k,
                         const struct config_alias *alias, const char *var, const char *value,
                         enum config_source src, struct errbuf *eb)
{
    char where[160];
    snprintf(where, sizeof(where), "environment variable %.130s", var);
    if (*value == '\0' && k->type != CT_STR && k->type != CT_LIST) {
        log_warn("config", "empty environment variable ignored var=%s key=%s", var, k->name);
        return RC_OK;
    }
    return apply_value(cfg, k, alias, NULL, value, src, where, eb);
}

static int apply_env(struct config *cfg, char *const *envp, struct errbuf *eb)
{
    int rc = RC_OK;
    char own[160], name[160];
    for (size_t i = 0; i < config__nkeys && rc == RC_OK; i++) {
        const struct config_key *k = &config__keys[i];
        for (size_t l = 0; l < CONFIG_MAX_LEGACY && k->legacy_env[l]; l++) {
            const char *v = env_get(envp, k->legacy_env[l]);
            if (v) {
                rc = apply_env_one(cfg, k, NULL, k->legacy_env[l], v, CONFIG_SRC_ENV_LEGACY, eb);
                break; /* first one wins */
            }
        }
        config__env_name(k->name, own, sizeof(own));
        for (size_t a = 0; a < CONFIG_MAX_ALIASES && k->aliases[a].name && rc == RC_OK; a++) {
            if (!(k->aliases[a].flags & ALIAS_GO))
                continue;
            config__env_name(k->aliases[a].name, name, sizeof(name));
            if (strcmp(name, own) == 0)
                continue; /* same variable as the key's own: ranks as ARC_ */
            const char *v = env_get(envp, name);
            if (v)
                rc = apply_env_one(cfg, k, &k->aliases[a], name, v, CONFIG_SRC_ENV_ALIAS, eb);
        }
        const char *v = env_get(envp, own);
        if (v && rc == RC_OK)
            rc = apply_env_one(cfg, k, NULL, own, v, CONFIG_SRC_ENV, eb);
    }
    return rc;
}

/* --- load ------------------------------------------------------------------------------------- */

int config_load_env(struct config **out, const char *explicit_path, char *const *envp,
                    struct errbuf *eb)
{
    int rc = RC_OK;
    struct config *cfg = alloc_config();
    struct toml_doc doc = {0};
    char *text = NULL;
    struct pending_db pending[CONFIG_MAX_ALIASES];
    size_t npending = 0;
    const char *path = NULL;
    *out = NULL;

    apply_defaults(cfg);

    /* File lookup (SPEC §10.1). */
    const char *env_path = env_get(envp, "ARC_CONFIG_FILE");
    if (explicit_path && *explicit_path) {
        path = explicit_path;
    } else if (env_path && *env_path) {
        path = env_path;
    } else {
        static const char *const candidates[] = {"./arc.toml", "./arc.conf", "/etc/arc/arc.toml"};
        for (size_t i = 0; i < 3 && !path; i++)
            if (file_exists(candidates[i]))
                path = candidates[i];
    }
    if (path) {
        if (!file_exists(path)) {
            rc = errbuf_set(eb, RC_IO, "config: file not found: %s", path);
            goto out;
        }
        size_t len = 0;
        rc = read_file(path, &text, &len, eb);
        if (rc != RC_OK)
            goto out;
        rc = config__toml_parse(text, len, path, &doc, eb);
        if (rc != RC_OK)
            goto out;
        cfg->priv->path = xstrdup(path);
        rc = apply_file(cfg, &doc, path, pending, &npending, eb);
        if (rc != RC_OK)
            goto out;
    }
    rc = apply_env(cfg, envp, eb);
    if (rc != RC_OK)
        goto out;
    if (npending) {
        rc = apply_pending_db(cfg, pending, npending, path, eb);
        if (rc != RC_OK)
            goto out;
    }
    derive(cfg);
    rc = config_validate(cfg, eb);
    if (rc != RC_OK)
        goto out;
    load_warnings(cfg);
    if (path)
        log_info("config", "configuration loaded file=%s", path);
    *out = cfg;
    cfg = NULL;
out:
    config__toml_free(&doc);
    xfree(text);
    config_free(&cfg);
    return rc;
}

int config_load(struct config **out, const char *explicit_path, struct errbuf *eb)
{
    return config_load_env(out, explicit_path, environ, eb);
}

int config_set(struct config *cfg, const char *key, const char *value, struct errbuf *eb)
{
    const struct config_alias *alias = NULL;
    long idx = config__key_find(key, &alias);
    if (idx < 0)
        return errbuf_set(eb, RC_INVALID, "config: --set: unknown key '%.100s'", key);
    if (alias && alias->xform == XF_BACKEND_DB)
        alias = NULL; /* storage.<backend>.database given explicitly: just the key */
    struct config *c = clone_config(cfg);
    int rc = apply_value(c, &config__keys[idx], alias, NULL, value ? value : "", CONFIG_SRC_SET,
                         "--set", eb);
    if (rc == RC_OK) {
        derive(c);
        rc = config_validate(c, eb);
    }
    if (rc == RC_OK) {
        struct config tmp = *cfg;
        *cfg = *c;
        *c = tmp;
    }
    config_free(&c);
    return rc;
}

/* --- inspection ------------------------------------------------------------------------------- */

const char *config_source_path(const struct config *cfg)
{
    return cfg && cfg->priv ? cfg->priv->path : NULL;
}

bool config_key_source(const struct config *cfg, const char *key, enum config_source *out)
{
    long idx = config__key_find(key, NULL);
    if (idx < 0)
        return false;
    *out = cfg->priv->origins[idx].source;
    return true;
}

size_t config_key_count(void)
{
    return config__nkeys;
}

const char *config_key_name(size_t i)
{
    return i < config__nkeys ? config__keys[i].name : NULL;
}

/* --- dump ---------------------------------------------------------------------------------------
 */

static void put_toml_string(struct strbuf *sb, const char *s)
{
    (void)strbuf_putc(sb, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': (void)strbuf_puts(sb, "\\\""); break;
        case '\\': (void)strbuf_puts(sb, "\\\\"); break;
        case '\n': (void)strbuf_puts(sb, "\\n"); break;
        case '\t': (void)strbuf_puts(sb, "\\t"); break;
        case '\r': (void)strbuf_puts(sb, "\\r"); break;
        default:
            if (*p < 0x20 || *p == 0x7F)
                (void)strbuf_printf(sb, "\\u%04x", *p);
            else
                (void)strbuf_putc(sb, (char)*p);
        }
    }
    (void)strbuf_putc(sb, '"');
}

static void put_value(struct strbuf *sb, const struct config_key *k, const struct cval *v,
                      bool redact)
{
    switch (k->type) {
    case CT_STR:
    case CT_ENUM:
        if (redact && (k->flags & CF_SECRET) && !empty(v->s))
            put_toml_string(sb, "<redacted>");
        else
            put_toml_string(sb, v->s ? v->s : "");
        break;
    case CT_INT: (void)strbuf_printf(sb, "%lld", (long long)v->i); break;
    case CT_BOOL: (void)strbuf_puts(sb, v->b ? "true" : "false"); break;
    case CT_LIST:
        (void)strbuf_putc(sb, '[');
        for (size_t i = 0; i < v->list.count; i++) {
            if (i)
                (void)strbuf_puts(sb, ", ");
            put_toml_string(sb, v->list.items[i]);
        }
        (void)strbuf_putc(sb, ']');
        break;
    }
}

static const char *leaf(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot ? dot + 1 : name;
}

/* Both writers build the text in a private uncapped buffer and append it to
 * the caller's buffer in one step, so a cap gives one clean RC_LIMIT and
 * leaves out unchanged. */
static int flush_to(struct strbuf *tmp, struct strbuf *out)
{
    int rc = strbuf_append(out, tmp->data ? tmp->data : "", tmp->len);
    strbuf_cleanup(tmp);
    return rc;
}

int config_dump_toml(const struct config *cfg, struct strbuf *sb, bool redact_secrets)
{
    char cur[128] = "", sect[128];
    struct strbuf tmp;
    struct strbuf *out = &tmp;
    strbuf_init(&tmp, 0);
    for (size_t i = 0; i < config__nkeys; i++) {
        const struct config_key *k = &config__keys[i];
        key_section(k->name, sect, sizeof(sect));
        if (strcmp(sect, cur) != 0) {
            (void)strbuf_printf(out, "%s[%s]\n", i ? "\n" : "", sect);
            snprintf(cur, sizeof(cur), "%s", sect);
        }
        struct cval v = view_of(cfg, k);
        (void)strbuf_printf(out, "%s = ", leaf(k->name));
        put_value(out, k, &v, redact_secrets);
        (void)strbuf_putc(out, '\n');
    }
    return flush_to(&tmp, sb);
}

static const char *section_doc(const char *s)
{
    for (size_t i = 0; i < config__nsections; i++)
        if (strcmp(config__sections[i].name, s) == 0)
            return config__sections[i].doc;
    return NULL;
}

int config_write_example(struct strbuf *sb)
{
    char cur[128] = "", sect[128], env[160];
    char why[WHY_MAX];
    struct strbuf tmp;
    struct strbuf *out = &tmp;
    strbuf_init(&tmp, 0);
    (void)strbuf_puts(out,
                      "# Arc configuration — every key with its default value.\n"
                      "#\n"
                      "# Generated from the key table in src/util/config_keys.c; a unit test\n"
                      "# checks that this file loads and equals the built-in defaults.\n"
                      "# Precedence (highest first): --set flags, ARC_<SECTION>_<KEY> environment\n"
                      "# variables, ARC_ forms of Arc Go-generation names, legacy variables, this\n"
                      "# file, defaults. See docs/config.md.\n");
    for (size_t i = 0; i < config__nkeys; i++) {
        const struct config_key *k = &config__keys[i];
        key_section(k->name, sect, sizeof(sect));
        if (strcmp(sect, cur) != 0) {
            const char *d = section_doc(sect);
            (void)strbuf_printf(out, "\n# %s\n[%s]\n", d ? d : sect, sect);
            snprintf(cur, sizeof(cur), "%s", sect);
        }
        struct cval v;
        if (!conv_text(k, XF_NONE, k->def, &v, why)) {
            /* Cannot happen: config__table_check proves every default. */
            cval_free(&v);
            strbuf_cleanup(&tmp);
            return RC_INTERNAL;
        }
        config__env_name(k->name, env, sizeof(env));
        (void)strbuf_printf(out, "\n# %s.\n# Default: ", k->doc);
        put_value(out, k, &v, false);
        (void)strbuf_printf(out, ". Environment: %s", env);
        for (size_t l = 0; l < CONFIG_MAX_LEGACY && k->legacy_env[l]; l++)
            (void)strbuf_printf(out, "%s%s", l ? ", " : " (legacy: ", k->legacy_env[l]);
        if (k->legacy_env[0])
            (void)strbuf_putc(out, ')');
        (void)strbuf_puts(out, ".\n");
        bool any_alias = false;
        for (size_t a = 0; a < CONFIG_MAX_ALIASES && k->aliases[a].name; a++) {
            (void)strbuf_printf(out, "%s%s",
                                any_alias ? ", " : "# Also accepted: ", k->aliases[a].name);
            any_alias = true;
        }
        if (any_alias)
            (void)strbuf_puts(out, ".\n");
        if (k->type == CT_INT)
            (void)strbuf_printf(out, "# Range: %lld..%lld.\n", (long long)k->min,
                                (long long)k->max);
        (void)strbuf_printf(out, "%s = ", leaf(k->name));
        put_value(out, k, &v, false);
        (void)strbuf_putc(out, '\n');
        cval_free(&v);
    }
    return flush_to(&tmp, sb);
}

/* --- table self-check
 * ----------------------------------------------------------------------------- */

struct env_entry {
    char name[160];
    size_t key;
};

static int env_register(struct env_entry **tab, size_t *n, const char *name, size_t key,
                        struct errbuf *eb)
{
    for (size_t i = 0; i < *n; i++) {
        if (strcmp((*tab)[i].name, name) == 0) {
            if ((*tab)[i].key != key)
                return errbuf_set(eb, RC_INTERNAL, "environment variable %s maps to both %s and %s",
                                  name, config__keys[(*tab)[i].key].name, config__keys[key].name);
            return RC_OK;
        }
    }
    *tab = xrealloc(*tab, (*n + 1) * sizeof(**tab));
    snprintf((*tab)[*n].name, sizeof((*tab)[*n].name), "%s", name);
    (*tab)[*n].key = key;
    (*n)++;
    return RC_OK;
}

int config__table_check(struct errbuf *eb)
{
    int rc = RC_OK;
    char why[WHY_MAX], sect[128], prev[128] = "", name[160];
    struct env_entry *envs = NULL;
    size_t nenv = 0;
    char(*seen)[128] = xcalloc(config__nkeys + 1, sizeof(*seen));
    size_t nseen = 0;

    for (size_t i = 0; i < config__nkeys && rc == RC_OK; i++) {
        const struct config_key *k = &config__keys[i];
        struct cval v;
        if (!conv_text(k, XF_NONE, k->def, &v, why) || !check_value(k, &v, why)) {
            cval_free(&v);
            rc = errbuf_set(eb, RC_INTERNAL, "%s: bad default: %s", k->name, why);
            break;
        }
        cval_free(&v);
        if (k->type == CT_INT && k->min > k->max)
            rc = errbuf_set(eb, RC_INTERNAL, "%s: min > max", k->name);
        if (k->type == CT_ENUM && !k->choices)
            rc = errbuf_set(eb, RC_INTERNAL, "%s: enum without choices", k->name);
        if (!k->doc || !*k->doc)
            rc = errbuf_set(eb, RC_INTERNAL, "%s: no description", k->name);
        if (rc != RC_OK)
            break;
        if (config__key_find(k->name, NULL) != (long)i) {
            rc = errbuf_set(eb, RC_INTERNAL, "%s: listed twice", k->name);
            break;
        }
        /* Sections: contiguous, documented, parents first. */
        key_section(k->name, sect, sizeof(sect));
        if (strcmp(sect, prev) != 0) {
            for (size_t s = 0; s < nseen; s++)
                if (strcmp(seen[s], sect) == 0)
                    rc = errbuf_set(eb, RC_INTERNAL, "%s: section [%s] is not contiguous", k->name,
                                    sect);
            const char *dot = strrchr(sect, '.');
            if (dot && rc == RC_OK) {
                char parent[128];
                snprintf(parent, sizeof(parent), "%.*s", (int)(dot - sect), sect);
                bool parent_has_keys = false, parent_seen = false;
                for (size_t j = 0; j < config__nkeys; j++) {
                    char ps[128];
                    key_section(config__keys[j].name, ps, sizeof(ps));
                    if (strcmp(ps, parent) == 0)
                        parent_has_keys = true;
                }
                for (size_t s = 0; s < nseen; s++)
                    if (strcmp(seen[s], parent) == 0)
                        parent_seen = true;
                if (parent_has_keys && !parent_seen)
                    rc = errbuf_set(eb, RC_INTERNAL, "[%s] comes before its parent [%s]", sect,
                                    parent);
            }
            if (!section_doc(sect) && rc == RC_OK)
                rc = errbuf_set(eb, RC_INTERNAL, "section [%s] has no description", sect);
            snprintf(seen[nseen++], sizeof(seen[0]), "%s", sect);
            snprintf(prev, sizeof(prev), "%s", sect);
            if (rc != RC_OK)
                break;
        }
        /* Environment names: unique per key. */
        config__env_name(k->name, name, sizeof(name));
        rc = env_register(&envs, &nenv, name, i, eb);
        for (size_t a = 0; a < CONFIG_MAX_ALIASES && k->aliases[a].name && rc == RC_OK; a++) {
            const struct config_alias *found = NULL;
            if (config__key_find(k->aliases[a].name, &found) != (long)i || found != &k->aliases[a])
                rc = errbuf_set(eb, RC_INTERNAL, "alias %s is ambiguous", k->aliases[a].name);
            else if (k->aliases[a].flags & ALIAS_GO) {
                config__env_name(k->aliases[a].name, name, sizeof(name));
                rc = env_register(&envs, &nenv, name, i, eb);
            }
        }
        for (size_t l = 0; l < CONFIG_MAX_LEGACY && k->legacy_env[l] && rc == RC_OK; l++)
            rc = env_register(&envs, &nenv, k->legacy_env[l], i, eb);
    }
    xfree(envs);
    xfree(seen);
    return rc;
}
