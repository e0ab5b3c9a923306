/*
 * auth/fields.c — the field rules of the token API (SPEC §5.5): permission
 * names, name/description limits, `expires_in` durations, request bodies to
 * struct auth_token_spec, and the TokenInfo / cache-stats JSON shapes.
 * Pure functions: no shared state; callable from any thread.
 */
#include "auth/auth_internal.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/mem.h"
#include "util/timeutil.h"

/* --- permissions --------------------------------------------------------------- */

static const struct {
    const char *name;
    unsigned bit;
} perm_names[] = {
    {"read", AUTH_PERM_READ},
    {"write", AUTH_PERM_WRITE},
    {"delete", AUTH_PERM_DELETE},
    {"admin", AUTH_PERM_ADMIN},
};
#define NPERMS (sizeof(perm_names) / sizeof(perm_names[0]))

const char *auth_perm_name(unsigned bit)
{
    for (size_t i = 0; i < NPERMS; i++)
        if (perm_names[i].bit == bit)
            return perm_names[i].name;
    return "none";
}

static int perm_one(const char *s, size_t n, unsigned *mask, struct errbuf *eb)
{
    while (n && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n == 0)
        return RC_OK;
    for (size_t i = 0; i < NPERMS; i++) {
        if (strlen(perm_names[i].name) == n && strncasecmp(perm_names[i].name, s, n) == 0) {
            *mask |= perm_names[i].bit;
            return RC_OK;
        }
    }
    return errbuf_set(eb, RC_INVALID,
                      "Invalid permission '%.*s' (allowed: read, write, delete, admin)",
                      (int)(n > 40 ? 40 : n), s);
}

int auth_perms_parse(const char *s, size_t len, unsigned *mask, struct errbuf *eb)
{
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == ',') {
            int rc = perm_one(s + start, i - start, mask, eb);
            if (rc != RC_OK)
                return rc;
            start = i + 1;
        }
    }
    return RC_OK;
}

int auth_perms_from_json(const struct json_value *v, unsigned *out, struct errbuf *eb)
{
    unsigned mask = 0;
    if (json_type(v) == JSON_STRING) {
        size_t n = 0;
        const char *s = json_as_str(v, &n);
        int rc = auth_perms_parse(s, n, &mask, eb);
        if (rc != RC_OK)
            return rc;
        *out = mask;
        return RC_OK;
    }
    if (json_type(v) != JSON_ARRAY)
        return errbuf_set(eb, RC_INVALID,
                          "permissions must be an array of strings or a comma-separated string");
    for (size_t i = 0; i < json_arr_len(v); i++) {
        size_t n = 0;
        const char *s = json_as_str(json_arr_at(v, i), &n);
        if (!s)
            return errbuf_set(eb, RC_INVALID, "permissions[%zu] must be a string", i);
        if (n == 0 || memchr(s, ',', n))
            return errbuf_set(eb, RC_INVALID, "Invalid permission '%.*s'", (int)(n > 40 ? 40 : n),
                              s);
        int rc = perm_one(s, n, &mask, eb);
        if (rc != RC_OK)
            return rc;
    }
    *out = mask;
    return RC_OK;
}

size_t auth_perms_format(unsigned mask, char *out, size_t cap)
{
    size_t o = 0;
    if (cap == 0)
        return 0;
    out[0] = '\0';
    for (size_t i = 0; i < NPERMS; i++) {
        if (!(mask & perm_names[i].bit))
            continue;
        int n = snprintf(out + o, cap - o, "%s%s", o ? "," : "", perm_names[i].name);
        if (n < 0 || (size_t)n >= cap - o) {
            out[cap - 1] = '\0';
            return cap - 1;
        }
        o += (size_t)n;
    }
    return o;
}

void auth_perms_write_json(struct jsonw *w, unsigned mask)
{
    jsonw_arr_begin(w);
    for (size_t i = 0; i < NPERMS; i++)
        if (mask & perm_names[i].bit)
            jsonw_str(w, perm_names[i].name);
    jsonw_arr_end(w);
}

bool auth_perms_allow(unsigned have, unsigned needed)
{
    if (have & AUTH_PERM_ADMIN)
        return true;
    return (have & needed) == needed;
}

/* --- names and descriptions ---------------------------------------------------- */

/* Counts UTF-8 code points; -1 if invalid (overlong, surrogate, > U+10FFFF,
 * truncated) or, with no_ctl, a control character. */
static long utf8_chars(const char *s, size_t len, bool no_ctl)
{
    const unsigned char *p = (const unsigned char *)s;
    long count = 0;
    size_t i = 0;
    while (i < len) {
        unsigned c = p[i];
        size_t need;
        unsigned cp;
        if (c < 0x80) {
            if (no_ctl && (c < 0x20 || c == 0x7f))
                return -1;
            if (c == 0)
                return -1;
            i++;
            count++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            need = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            need = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            need = 3;
            cp = c & 0x07;
        } else {
            return -1;
        }
        for (size_t k = 1; k <= need; k++) {
            if (i + k >= len || (p[i + k] & 0xc0) != 0x80)
                return -1;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        if ((need == 1 && cp < 0x80) || (need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return -1;
        if (no_ctl && cp >= 0x80 && cp <= 0x9f)
            return -1;
        i += need + 1;
        count++;
    }
    return count;
}

int auth_validate_name(const char *name, size_t len, struct errbuf *eb)
{
    if (!name || len == 0)
        return errbuf_set(eb, RC_INVALID, "name must not be empty");
    long n = utf8_chars(name, len, true);
    if (n < 0)
        return errbuf_set(eb, RC_INVALID, "name must be valid UTF-8 without control characters");
    if (n > AUTH_NAME_MAX_CHARS)
        return errbuf_set(eb, RC_INVALID, "name must be at most %d characters",
                          AUTH_NAME_MAX_CHARS);
    return RC_OK;
}

int auth_validate_description(const char *desc, size_t len, struct errbuf *eb)
{
    if (!desc || len == 0)
        return RC_OK;
    long n = utf8_chars(desc, len, false);
    if (n < 0)
        return errbuf_set(eb, RC_INVALID, "description must be valid UTF-8");
    if (n > AUTH_DESC_MAX_CHARS)
        return errbuf_set(eb, RC_INVALID, "description must be at most %d characters",
                          AUTH_DESC_MAX_CHARS);
    return RC_OK;
}

/* --- durations ------------------------------------------------------------------- */

int auth_parse_duration(const char *s, int64_t *out_us, struct errbuf *eb)
{
    const int64_t max_us = INT64_C(100) * 366 * US_PER_DAY;
    if (!s || !*s)
        return errbuf_set(eb, RC_INVALID, "expires_in must not be empty");
    const char *p = s;
    int64_t total = 0;
    while (*p) {
        /* <digits>[.<digits>] */
        int64_t whole = 0;
        int64_t frac = 0, frac_div = 1;
        size_t nd = 0;
        while (*p >= '0' && *p <= '9') {
            if (++nd > 12)
                goto bad;
            whole = whole * 10 + (*p - '0');
            p++;
        }
        if (*p == '.') {
            p++;
            size_t nf = 0;
            while (*p >= '0' && *p <= '9') {
                if (nf < 9) {
                    frac = frac * 10 + (*p - '0');
                    frac_div *= 10;
                }
                nf++;
                p++;
            }
            if (nf == 0)
                goto bad;
            nd += nf;
        }
        if (nd == 0)
            goto bad;
        int64_t unit;
        if (p[0] == 'm' && p[1] == 's') {
            unit = 1000;
            p += 2;
        } else if (*p == 's') {
            unit = US_PER_SEC;
            p++;
        } else if (*p == 'm') {
            unit = 60 * US_PER_SEC;
            p++;
        } else if (*p == 'h') {
            unit = US_PER_HOUR;
            p++;
        } else if (*p == 'd') {
            unit = US_PER_DAY;
            p++;
        } else if (*p == 'w') {
            unit = 7 * US_PER_DAY;
            p++;
        } else {
            goto bad;
        }
        if (whole > max_us / unit)
            goto range;
        total += whole * unit + (int64_t)((double)frac / (double)frac_div * (double)unit);
        if (total > max_us)
            goto range;
    }
    if (total <= 0)
        return errbuf_set(eb, RC_INVALID, "expires_in must be a positive duration");
    *out_us = total;
    return RC_OK;
bad:
    return errbuf_set(eb, RC_INVALID,
                      "Invalid expires_in '%.40s': use a duration such as 90m, 24h, 1h30m or 30d",
                      s);
range:
    return errbuf_set(eb, RC_INVALID, "expires_in '%.40s' is too long (max 100 years)", s);
}

/* --- request bodies ----------------------------------------------------------------- */

static bool present(const struct json_value *v)
{
    return v && !json_is_null(v);
}

int auth_spec_from_json(const struct json_value *doc, bool for_create, int64_t now_us,
                        struct auth_token_spec *out, struct errbuf *eb)
{
    memset(out, 0, sizeof(*out));
    if (json_type(doc) != JSON_OBJECT)
        return errbuf_set(eb, RC_INVALID, "Request body must be a JSON object");
    bool changed = false;

    const struct json_value *v = json_obj_get(doc, "name");
    if (present(v)) {
        size_t n = 0;
        const char *s = json_as_str(v, &n);
        if (!s)
            return errbuf_set(eb, RC_INVALID, "name must be a string");
        int rc = auth_validate_name(s, n, eb);
        if (rc != RC_OK)
            return rc;
        out->name = s;
        changed = true;
    } else if (for_create) {
        return errbuf_set(eb, RC_INVALID, "name is required");
    }

    v = json_obj_get(doc, "description");
    if (v) {
        if (json_is_null(v)) {
            out->description = "";
        } else {
            size_t n = 0;
            const char *s = json_as_str(v, &n);
            if (!s)
                return errbuf_set(eb, RC_INVALID, "description must be a string");
            int rc = auth_validate_description(s, n, eb);
            if (rc != RC_OK)
                return rc;
            out->description = s;
        }
        changed = true;
    }

    v = json_obj_get(doc, "permissions");
    if (present(v)) {
        int rc = auth_perms_from_json(v, &out->perms, eb);
        if (rc != RC_OK)
            return rc;
        out->set_perms = true;
        changed = true;
    }

    const struct json_value *in = json_obj_get(doc, "expires_in");
    const struct json_value *at = json_obj_get(doc, "expires_at");
    if (present(in) && present(at))
        return errbuf_set(eb, RC_INVALID, "Specify either expires_in or expires_at, not both");
    if (present(in)) {
        const char *s = json_as_str(in, NULL);
        if (!s)
            return errbuf_set(eb, RC_INVALID,
                              "expires_in must be a duration string such as \"24h\"");
        int64_t d = 0;
        int rc = auth_parse_duration(s, &d, eb);
        if (rc != RC_OK)
            return rc;
        out->set_expiry = out->has_expiry = true;
        out->expires_at_us = now_us + d;
        changed = true;
    } else if (present(at)) {
        size_t n = 0;
        const char *s = json_as_str(at, &n);
        int64_t t = 0;
        if (!s || !time_parse_rfc3339(s, n, &t))
            return errbuf_set(eb, RC_INVALID,
                              "expires_at must be an RFC 3339 timestamp such as "
                              "\"2030-01-01T00:00:00Z\"");
        if (t <= now_us)
            return errbuf_set(eb, RC_INVALID, "expires_at must be in the future");
        out->set_expiry = out->has_expiry = true;
        out->expires_at_us = t;
        changed = true;
    } else if (at || in) {
        /* explicit null: never expires */
        out->set_expiry = true;
        out->has_expiry = false;
        changed = true;
    }

    v = json_obj_get(doc, "enabled");
    if (present(v) && !for_create) {
        if (!json_as_bool(v, &out->enabled))
            return errbuf_set(eb, RC_INVALID, "enabled must be a boolean");
        out->set_enabled = true;
        changed = true;
    }

    if (!for_create && !changed)
        return errbuf_set(eb, RC_INVALID, "No fields to update");
    return RC_OK;
}

/* --- JSON shapes ----------------------------------------------------------------------- */

void auth_token_info_write_fields(struct jsonw *w, const struct auth_token_info *t)
{
    jsonw_kv_i64(w, "id", t->id);
    jsonw_kv_str(w, "name", t->name ? t->name : "");
    jsonw_kv_str(w, "description", t->description ? t->description : "");
    jsonw_key(w, "permissions");
    auth_perms_write_json(w, t->perms);
    jsonw_key(w, "created_at");
    jsonw_time_us(w, t->created_at_us);
    jsonw_key(w, "last_used_at");
    if (t->has_last_used)
        jsonw_time_us(w, t->last_used_at_us);
    else
        jsonw_null(w);
    jsonw_key(w, "expires_at");
    if (t->has_expiry)
        jsonw_time_us(w, t->expires_at_us);
    else
        jsonw_null(w);
    jsonw_kv_bool(w, "enabled", t->enabled);
}

void auth_token_info_write(struct jsonw *w, const struct auth_token_info *t)
{
    jsonw_obj_begin(w);
    auth_token_info_write_fields(w, t);
    jsonw_obj_end(w);
}

void auth_token_info_cleanup(struct auth_token_info *t)
{
    if (!t)
        return;
    xfree(t->name);
    xfree(t->description);
    memset(t, 0, sizeof(*t));
}

void auth_token_list_free(struct auth_token_info **list, size_t n)
{
    if (!list || !*list)
        return;
    for (size_t i = 0; i < n; i++)
        auth_token_info_cleanup(&(*list)[i]);
    xfree(*list);
    *list = NULL;
}

void auth_cache_stats_write_fields(struct jsonw *w, const struct auth_cache_stats *s)
{
    jsonw_kv_u64(w, "cache_size", s->cache_size);
    jsonw_kv_u64(w, "max_cache_size", s->max_cache_size);
    jsonw_kv_i64(w, "cache_ttl_seconds", s->cache_ttl_seconds);
    jsonw_key(w, "utilization_percent");
    jsonw_f64_fixed(w, s->utilization_percent, 2);
    jsonw_kv_u64(w, "total_requests", s->total_requests);
    jsonw_kv_u64(w, "cache_hits", s->cache_hits);
    jsonw_kv_u64(w, "cache_misses", s->cache_misses);
    jsonw_kv_u64(w, "cache_evictions", s->cache_evictions);
    jsonw_key(w, "hit_rate_percent");
    jsonw_f64_fixed(w, s->hit_rate_percent, 2);
}
