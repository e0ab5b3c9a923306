/*
 * flush/nodeid.c — node ids in data file names (see writer.h): validation,
 * derivation from the host name, and parsing a key's node id back out.
 *
 * Several Arc nodes may write to one bucket (docs/s3.md, "Scale-out on
 * shared storage"). Each appends `_<node_id>` to its raw flush names, so two
 * nodes never produce the same key even with identical clocks and counters,
 * and the catalog refresh (refresh.c) recognises the files it wrote itself.
 *
 * The id alphabet ([A-Za-z0-9-], first a letter, never b<digits>) has no
 * '_' and cannot be mistaken for the digit fields or the b{K} batch field of
 * SPEC §3.2 names, so the id is always the last '_' field.
 *
 * Pure functions (plus gethostname); any thread.
 */
#include "flush/writer.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static bool is_letter(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* "b" followed by one or more digits: the compaction batch field. */
static bool looks_like_batch(const char *s, size_t n)
{
    if (n < 2 || s[0] != 'b')
        return false;
    for (size_t i = 1; i < n; i++)
        if (!is_digit(s[i]))
            return false;
    return true;
}

static bool id_ok(const char *s, size_t n)
{
    if (n == 0 || n > FLUSH_NODE_ID_MAX || !is_letter(s[0]) || looks_like_batch(s, n))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_letter(s[i]) && !is_digit(s[i]) && s[i] != '-')
            return false;
    return true;
}

bool flush_node_id_is_valid(const char *s)
{
    return s && id_ok(s, strnlen(s, FLUSH_NODE_ID_MAX + 1));
}

int flush_node_id_resolve(const char *configured, char *out, size_t cap, struct errbuf *eb)
{
    if (cap < FLUSH_NODE_ID_MAX + 1)
        return errbuf_set(eb, RC_LIMIT, "node id buffer too small");
    if (configured && configured[0]) {
        if (!flush_node_id_is_valid(configured))
            return errbuf_set(eb, RC_INVALID,
                              "storage.node_id: \"%.64s\" is not 1-%d characters of [A-Za-z0-9-] "
                              "starting with a letter (and not b<digits>)",
                              configured, FLUSH_NODE_ID_MAX);
        snprintf(out, cap, "%s", configured);
        return RC_OK;
    }
    char host[256];
    if (gethostname(host, sizeof(host)) != 0)
        return errbuf_set(eb, RC_INVALID,
                          "storage.node_id: empty and the host name is unavailable (%s); set it",
                          strerror(errno));
    host[sizeof(host) - 1] = '\0';
    /* Only the first label of a fully qualified name: "arc-1.example.com"
     * and "arc-1" are the same node. */
    char *dot = strchr(host, '.');
    if (dot && dot != host)
        *dot = '\0';
    char id[FLUSH_NODE_ID_MAX + 1];
    size_t n = 0;
    size_t hl = strlen(host);
    if (hl == 0 || !is_letter(host[0]) || looks_like_batch(host, hl))
        id[n++] = 'n';
    for (size_t i = 0; i < hl && n < FLUSH_NODE_ID_MAX; i++) {
        char c = host[i];
        id[n++] = (is_letter(c) || is_digit(c) || c == '-') ? c : '-';
    }
    id[n] = '\0';
    if (!id_ok(id, n)) /* cannot happen with the rules above; be safe */
        return errbuf_set(eb, RC_INVALID, "storage.node_id: cannot derive one from the host name");
    snprintf(out, cap, "%s", id);
    return RC_OK;
}

static bool ends_with(const char *s, size_t n, const char *suffix, size_t *out_n)
{
    size_t k = strlen(suffix);
    if (n < k || memcmp(s + n - k, suffix, k) != 0)
        return false;
    *out_n = n - k;
    return true;
}

bool flush_key_node_id(const char *key, char *out, size_t cap)
{
    if (!key)
        return false;
    const char *name = strrchr(key, '/');
    name = name ? name + 1 : key;
    size_t n = strlen(name);
    if (!ends_with(name, n, ".parquet", &n))
        return false;
    size_t m;
    if (ends_with(name, n, "_compacted", &m) || ends_with(name, n, "_daily", &m))
        n = m;
    const char *us = NULL;
    for (size_t i = n; i > 0; i--) {
        if (name[i - 1] == '_') {
            us = name + i - 1;
            break;
        }
    }
    if (!us)
        return false;
    const char *id = us + 1;
    size_t idn = (size_t)(name + n - id);
    if (!id_ok(id, idn) || idn + 1 > cap)
        return false;
    memcpy(out, id, idn);
    out[idn] = '\0';
    return true;
}
