/*
 * auth/creds.c — where a request's token comes from (SPEC §5.2) and which
 * paths are public (SPEC §5.3). Pure functions: no shared state, no I/O;
 * callable from any thread.
 */
#include "auth/auth_internal.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* Trims spaces/tabs; returns the start and sets *len. */
static const char *trim(const char *s, size_t *len)
{
    size_t n = strlen(s);
    while (n && is_space(*s)) {
        s++;
        n--;
    }
    while (n && is_space(s[n - 1]))
        n--;
    *len = n;
    return s;
}

/* Copies a candidate token if it is usable: non-empty, fits, no control
 * characters. */
static enum auth_extract_result take(const char *t, size_t n, char *out, size_t cap)
{
    if (n == 0 || n > AUTH_TOKEN_MAX_BYTES || n >= cap)
        return AUTH_CREDS_MALFORMED;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c < 0x20 || c == 0x7f)
            return AUTH_CREDS_MALFORMED;
    }
    memcpy(out, t, n);
    out[n] = '\0';
    return AUTH_CREDS_OK;
}

static int b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

bool auth_base64_decode(const char *in, size_t len, char *out, size_t cap, size_t *out_len)
{
    /* Padding is optional, but if present it must complete the last quad. */
    size_t pad = 0;
    while (len && in[len - 1] == '=' && pad < 2) {
        len--;
        pad++;
    }
    if (pad && (len + pad) % 4 != 0)
        return false;
    if (len % 4 == 1)
        return false;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_val((unsigned char)in[i]);
        if (v < 0)
            return false;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o + 1 >= cap)
                return false;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    /* Leftover bits of a partial quad must be zero (canonical encoding). */
    if (bits && (acc & ((1u << bits) - 1)) != 0)
        return false;
    if (cap == 0)
        return false;
    out[o] = '\0';
    if (out_len)
        *out_len = o;
    return true;
}

static enum auth_extract_result from_basic(const char *b64, size_t n, char *out, size_t cap)
{
    char dec[2 * AUTH_TOKEN_MAX_BYTES + 2];
    size_t dn = 0;
    if (!auth_base64_decode(b64, n, dec, sizeof(dec), &dn))
        return AUTH_CREDS_MALFORMED;
    if (memchr(dec, '\0', dn))
        return AUTH_CREDS_MALFORMED;
    char *colon = memchr(dec, ':', dn);
    if (!colon)
        return AUTH_CREDS_MALFORMED;
    size_t ulen = (size_t)(colon - dec);
    size_t plen = dn - ulen - 1;
    if (plen > 0)
        return take(colon + 1, plen, out, cap);
    return take(dec, ulen, out, cap);
}

static enum auth_extract_result from_authorization(const char *v, size_t n, char *out, size_t cap)
{
    size_t sl = 0;
    while (sl < n && !is_space(v[sl]))
        sl++;
    const char *rest = v + sl;
    size_t rn = n - sl;
    while (rn && is_space(*rest)) {
        rest++;
        rn--;
    }
    bool bearer = sl == 6 && strncasecmp(v, "Bearer", 6) == 0;
    bool token = sl == 5 && strncasecmp(v, "Token", 5) == 0;
    bool basic = sl == 5 && strncasecmp(v, "Basic", 5) == 0;
    if (bearer || token)
        return take(rest, rn, out, cap);
    if (basic)
        return rn ? from_basic(rest, rn, out, cap) : AUTH_CREDS_MALFORMED;
    if (sl < n) /* an unknown scheme followed by something */
        return AUTH_CREDS_MALFORMED;
    return take(v, n, out, cap); /* bare value */
}

enum auth_extract_result auth_extract_token(const struct auth_creds *c, char *out, size_t cap,
                                            enum auth_cred_source *src)
{
    size_t n;
    const char *v;
    if (src)
        *src = AUTH_SRC_NONE;
    if (cap)
        out[0] = '\0';
    if (c->authorization && (v = trim(c->authorization, &n), n > 0)) {
        if (src)
            *src = AUTH_SRC_AUTHORIZATION;
        return from_authorization(v, n, out, cap);
    }
    if (c->x_api_key && (v = trim(c->x_api_key, &n), n > 0)) {
        if (src)
            *src = AUTH_SRC_API_KEY;
        return take(v, n, out, cap);
    }
    if (c->query_p && (v = trim(c->query_p, &n), n > 0)) {
        if (src)
            *src = AUTH_SRC_QUERY;
        return take(v, n, out, cap);
    }
    return AUTH_CREDS_NONE;
}

/* --- paths ------------------------------------------------------------------- */

bool auth_path_normalize(const char *path, char *out, size_t cap)
{
    /* Same rules as http_path_normalize: split on '/', drop empty and "."
     * segments, pop on "..", never above "/"; no trailing slash. */
    size_t o = 0, len = strlen(path), in = 0;
    if (cap < 2)
        return false;
    while (in < len) {
        while (in < len && path[in] == '/')
            in++;
        if (in >= len)
            break;
        size_t s = in;
        while (in < len && path[in] != '/')
            in++;
        size_t sl = in - s;
        if (sl == 1 && path[s] == '.')
            continue;
        if (sl == 2 && path[s] == '.' && path[s + 1] == '.') {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--; /* drop the '/' that started the popped segment */
            continue;
        }
        if (o + 1 + sl + 1 > cap)
            return false;
        out[o++] = '/';
        memcpy(out + o, path + s, sl);
        o += sl;
    }
    if (o == 0)
        out[o++] = '/';
    out[o] = '\0';
    return true;
}

static bool never_public(const char *p)
{
    static const char logs[] = "/api/v1/logs";
    size_t n = sizeof(logs) - 1;
    return strncmp(p, logs, n) == 0 && (p[n] == '\0' || p[n] == '/');
}

static bool entry_matches(const char *e, size_t en, const char *p)
{
    size_t pl = strlen(p);
    if (en > 0 && e[en - 1] == '*') {
        size_t k = en - 1; /* prefix length */
        /* A "/api/v2/" prefix also covers "/api/v2" itself (normalised paths have
         * no trailing slash). */
        if (k > 1 && e[k - 1] == '/' && pl == k - 1 && strncmp(p, e, pl) == 0)
            return true;
        if (pl < k || strncmp(p, e, k) != 0)
            return false;
        if (pl == k)
            return true;
        if (k > 0 && e[k - 1] == '/')
            return true;
        return p[k] == '/';
    }
    if (en == pl && strncmp(p, e, en) == 0)
        return true;
    /* "/api/x/" in the list still matches the normalised "/api/x". */
    return en > 1 && e[en - 1] == '/' && en - 1 == pl && strncmp(p, e, pl) == 0;
}

bool auth_allowlist_match(const struct config_list *allowlist, const char *path)
{
    char norm[2048];
    if (!allowlist || !path || !auth_path_normalize(path, norm, sizeof(norm)))
        return false;
    if (never_public(norm))
        return false;
    for (size_t i = 0; i < allowlist->count; i++) {
        const char *item = allowlist->items[i];
        if (!item)
            continue;
        size_t en;
        const char *e = trim(item, &en);
        if (en == 0)
            continue;
        if (entry_matches(e, en, norm))
            return true;
    }
    return false;
}
