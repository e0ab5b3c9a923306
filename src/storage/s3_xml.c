/*
 * storage/s3_xml.c — just enough XML for S3: find an element by name, decode
 * and encode character data, and read ListObjectsV2, DeleteObjects, multipart
 * and error responses (s3_internal.h).
 *
 * This is not a general XML parser, and need not be: S3 responses are small,
 * flat documents without namespaces prefixes, attributes we care about, or
 * nested elements of the same name. What it guarantees instead is safety on
 * hostile input (a broken or malicious endpoint): every scan is bounded by
 * the buffer length (inputs need not be NUL-terminated), entity decoding
 * rejects anything malformed, and decoded text goes into capped strbufs.
 *
 * Owns nothing; reentrant; called by whichever thread runs an S3 request.
 */
#include "storage/s3_internal.h"

#include <stdlib.h>
#include <string.h>

#include "util/timeutil.h"

#define XML_TEXT_MAX 65536 /* one decoded text node (keys are <= 1 KiB) */

static bool starts(const char *p, const char *end, const char *lit)
{
    size_t n = strlen(lit);
    return (size_t)(end - p) >= n && memcmp(p, lit, n) == 0;
}

/* Returns the position just after the first occurrence of lit in [p, end),
 * or NULL. */
static const char *skip_past(const char *p, const char *end, const char *lit)
{
    size_t n = strlen(lit);
    if (p >= end)
        return NULL;
    const char *hit = memmem(p, (size_t)(end - p), lit, n);
    return hit ? hit + n : NULL;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* End of a start tag beginning at p ('<'): the '>' outside quoted attribute
 * values, or NULL. */
static const char *tag_end(const char *p, const char *end)
{
    char quote = 0;
    for (; p < end; p++) {
        if (quote) {
            if (*p == quote)
                quote = 0;
        } else if (*p == '"' || *p == '\'') {
            quote = *p;
        } else if (*p == '>') {
            return p;
        }
    }
    return NULL;
}

/* Finds "</name" + optional blanks + ">" in [p, end); sets *after past it. */
static const char *find_close(const char *p, const char *end, const char *name, size_t nl,
                              const char **after)
{
    while (p < end) {
        const char *hit = memmem(p, (size_t)(end - p), "</", 2);
        if (!hit)
            return NULL;
        const char *q = hit + 2;
        if ((size_t)(end - q) >= nl && memcmp(q, name, nl) == 0) {
            q += nl;
            while (q < end && is_space(*q))
                q++;
            if (q < end && *q == '>') {
                *after = q + 1;
                return hit;
            }
        }
        p = hit + 2;
    }
    return NULL;
}

bool s3__xml_find(const char *xml, size_t len, size_t *pos, const char *name, const char **inner,
                  size_t *inner_len)
{
    const char *end = xml + len;
    size_t nl = strlen(name);
    const char *p = xml + (*pos <= len ? *pos : len);
    while (p < end) {
        p = memchr(p, '<', (size_t)(end - p));
        if (!p)
            return false;
        if (starts(p, end, "<!--")) {
            p = skip_past(p + 4, end, "-->");
        } else if (starts(p, end, "<![CDATA[")) {
            p = skip_past(p + 9, end, "]]>");
        } else if (starts(p, end, "<?")) {
            p = skip_past(p + 2, end, "?>");
        } else if (starts(p, end, "<!")) {
            p = skip_past(p + 2, end, ">");
        } else if ((size_t)(end - p) > nl + 1 && memcmp(p + 1, name, nl) == 0 &&
                   (p[1 + nl] == '>' || p[1 + nl] == '/' || is_space(p[1 + nl]))) {
            const char *te = tag_end(p + 1 + nl, end);
            if (!te)
                return false;
            if (te[-1] == '/') { /* <name/> */
                *inner = te + 1;
                *inner_len = 0;
                *pos = (size_t)(te + 1 - xml);
                return true;
            }
            const char *after = NULL;
            const char *close = find_close(te + 1, end, name, nl, &after);
            if (!close)
                return false;
            *inner = te + 1;
            *inner_len = (size_t)(close - (te + 1));
            *pos = (size_t)(after - xml);
            return true;
        } else {
            p++;
        }
        if (!p)
            return false;
    }
    return false;
}

/* Appends code point cp as UTF-8. */
static int put_utf8(struct strbuf *out, unsigned long cp)
{
    char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (char)(0xF0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return strbuf_append(out, b, n);
}

/* Decodes the entity at s[0..n) (s[0] == '&'); sets *used. */
static int decode_entity(struct strbuf *out, const char *s, size_t n, size_t *used)
{
    const char *semi = memchr(s, ';', n < 16 ? n : 16);
    if (!semi)
        return RC_PARSE;
    size_t el = (size_t)(semi - s) + 1; /* including '&' and ';' */
    *used = el;
    static const struct {
        const char *name;
        char c;
    } named[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++)
        if (strlen(named[i].name) == el && memcmp(s, named[i].name, el) == 0)
            return strbuf_putc(out, named[i].c);
    if (el < 4 || s[1] != '#')
        return RC_PARSE;
    bool hex = s[2] == 'x';
    const char *d = s + (hex ? 3 : 2);
    if (d >= semi)
        return RC_PARSE;
    unsigned long cp = 0;
    for (; d < semi; d++) {
        int v;
        if (*d >= '0' && *d <= '9')
            v = *d - '0';
        else if (hex && *d >= 'a' && *d <= 'f')
            v = *d - 'a' + 10;
        else if (hex && *d >= 'A' && *d <= 'F')
            v = *d - 'A' + 10;
        else
            return RC_PARSE;
        cp = cp * (hex ? 16 : 10) + (unsigned long)v;
        if (cp > 0x10FFFF)
            return RC_PARSE;
    }
    if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF))
        return RC_PARSE;
    return put_utf8(out, cp);
}

int s3__xml_unescape(struct strbuf *out, const char *s, size_t n)
{
    size_t i = 0;
    int rc = RC_OK;
    while (i < n && rc == RC_OK) {
        char c = s[i];
        if (c == '&') {
            size_t used = 0;
            rc = decode_entity(out, s + i, n - i, &used);
            i += used;
        } else if (c == '<') {
            if (!starts(s + i, s + n, "<![CDATA["))
                return RC_PARSE; /* markup where text was expected */
            const char *body = s + i + 9;
            const char *endc = memmem(body, (size_t)(s + n - body), "]]>", 3);
            if (!endc)
                return RC_PARSE;
            rc = strbuf_append(out, body, (size_t)(endc - body));
            i = (size_t)(endc + 3 - s);
        } else if (c == '\r') {
            /* XML end-of-line handling: CRLF and lone CR read as LF. */
            rc = strbuf_putc(out, '\n');
            i += (i + 1 < n && s[i + 1] == '\n') ? 2 : 1;
        } else if (c == '\0') {
            return RC_PARSE;
        } else {
            size_t j = i;
            while (j < n && s[j] != '&' && s[j] != '<' && s[j] != '\r' && s[j] != '\0')
                j++;
            rc = strbuf_append(out, s + i, j - i);
            i = j;
        }
    }
    if (rc == RC_OK && !out->data)
        rc = strbuf_append(out, "", 0); /* always leave a terminated string */
    return rc;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid
 * (overlongs, surrogates, > U+10FFFF and U+FFFE/U+FFFF are invalid in XML). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned long cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE || cp == 0xFFFF)
        return 0;
    return len;
}

int s3__xml_escape(struct strbuf *out, const char *s)
{
    size_t n = strlen(s);
    int rc = RC_OK;
    for (size_t i = 0; i < n && rc == RC_OK;) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '&': rc = strbuf_puts(out, "&amp;"); break;
        case '<': rc = strbuf_puts(out, "&lt;"); break;
        case '>': rc = strbuf_puts(out, "&gt;"); break;
        case '"': rc = strbuf_puts(out, "&quot;"); break;
        case '\'': rc = strbuf_puts(out, "&apos;"); break;
        /* Character references survive XML whitespace normalisation. */
        case '\t': rc = strbuf_puts(out, "&#9;"); break;
        case '\n': rc = strbuf_puts(out, "&#10;"); break;
        case '\r': rc = strbuf_puts(out, "&#13;"); break;
        default:
            if (c < 0x20)
                return RC_INVALID;
            if (c >= 0x80) {
                size_t l = utf8_len((const unsigned char *)s + i, n - i);
                if (l == 0)
                    return RC_INVALID;
                rc = strbuf_append(out, s + i, l);
                i += l;
                continue;
            }
            rc = strbuf_putc(out, (char)c);
        }
        i++;
    }
    return rc;
}

bool s3__xml_text(const char *xml, size_t len, const char *name, char *out, size_t cap)
{
    if (cap)
        out[0] = '\0';
    size_t pos = 0;
    const char *in;
    size_t il;
    if (!s3__xml_find(xml, len, &pos, name, &in, &il))
        return false;
    struct strbuf sb;
    strbuf_init(&sb, XML_TEXT_MAX);
    bool ok = s3__xml_unescape(&sb, in, il) == RC_OK;
    if (ok && cap) {
        size_t n = sb.len < cap - 1 ? sb.len : cap - 1;
        memcpy(out, sb.data, n);
        out[n] = '\0';
    }
    strbuf_cleanup(&sb);
    return ok;
}

/* Strict unsigned decimal of s[0..n), surrounding blanks allowed. */
static bool parse_u64(const char *s, size_t n, uint64_t *out)
{
    while (n && is_space(*s)) {
        s++;
        n--;
    }
    while (n && is_space(s[n - 1]))
        n--;
    if (n == 0 || n > 20)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

int s3__parse_list(const char *xml, size_t len, s3__list_item_fn fn, void *ctx, bool *truncated,
                   struct strbuf *next_token, struct errbuf *eb)
{
    size_t pos = 0;
    const char *doc;
    size_t dl;
    if (!s3__xml_find(xml, len, &pos, "ListBucketResult", &doc, &dl))
        return errbuf_set(eb, RC_PARSE, "storage: s3 list response is not a ListBucketResult");

    char flag[16];
    *truncated =
        s3__xml_text(doc, dl, "IsTruncated", flag, sizeof(flag)) && strcmp(flag, "true") == 0;
    strbuf_reset(next_token);
    size_t tp = 0;
    const char *tok;
    size_t tl;
    if (s3__xml_find(doc, dl, &tp, "NextContinuationToken", &tok, &tl) &&
        s3__xml_unescape(next_token, tok, tl) != RC_OK)
        return errbuf_set(eb, RC_PARSE, "storage: s3 list: bad NextContinuationToken");

    struct strbuf key;
    strbuf_init(&key, XML_TEXT_MAX);
    int rc = RC_OK;
    size_t cp = 0;
    const char *c;
    size_t cl;
    while (rc == RC_OK && s3__xml_find(doc, dl, &cp, "Contents", &c, &cl)) {
        size_t kp = 0, sp = 0, mp = 0;
        const char *k, *sz, *mt;
        size_t kl, szl, mtl;
        if (!s3__xml_find(c, cl, &kp, "Key", &k, &kl)) {
            rc = errbuf_set(eb, RC_PARSE, "storage: s3 list entry without <Key>");
            break;
        }
        strbuf_reset(&key);
        if (s3__xml_unescape(&key, k, kl) != RC_OK) {
            rc = errbuf_set(eb, RC_PARSE, "storage: s3 list entry with a malformed <Key>");
            break;
        }
        uint64_t size = 0;
        if (s3__xml_find(c, cl, &sp, "Size", &sz, &szl) && !parse_u64(sz, szl, &size)) {
            rc = errbuf_set(eb, RC_PARSE, "storage: s3 list entry with a bad <Size> key=%.200s",
                            key.data);
            break;
        }
        int64_t mtime_us = 0;
        if (s3__xml_find(c, cl, &mp, "LastModified", &mt, &mtl) &&
            !time_parse_rfc3339(mt, mtl, &mtime_us))
            mtime_us = 0; /* informational only: an odd date must not fail a listing */
        if (memchr(key.data, '\0', key.len)) /* cannot happen (entities reject NUL) */
            continue;
        rc = fn(ctx, key.data, size, mtime_us);
    }
    strbuf_cleanup(&key);
    return rc;
}

bool s3__parse_error(const char *xml, size_t len, char *code, size_t code_cap, char *msg,
                     size_t msg_cap)
{
    if (code_cap)
        code[0] = '\0';
    if (msg_cap)
        msg[0] = '\0';
    size_t pos = 0;
    const char *e;
    size_t el;
    if (!xml || !s3__xml_find(xml, len, &pos, "Error", &e, &el))
        return false;
    s3__xml_text(e, el, "Code", code, code_cap);
    s3__xml_text(e, el, "Message", msg, msg_cap);
    return true;
}

int s3__parse_delete_result(const char *xml, size_t len, s3__delete_error_fn fn, void *ctx,
                            size_t *out_errors, struct errbuf *eb)
{
    size_t pos = 0;
    const char *doc;
    size_t dl;
    *out_errors = 0;
    if (!s3__xml_find(xml, len, &pos, "DeleteResult", &doc, &dl))
        return errbuf_set(eb, RC_PARSE, "storage: s3 delete response is not a DeleteResult");
    size_t ep = 0;
    const char *e;
    size_t el;
    while (s3__xml_find(doc, dl, &ep, "Error", &e, &el)) {
        char key[2048], code[64], msg[256];
        s3__xml_text(e, el, "Key", key, sizeof(key));
        s3__xml_text(e, el, "Code", code, sizeof(code));
        s3__xml_text(e, el, "Message", msg, sizeof(msg));
        (*out_errors)++;
        if (fn)
            fn(ctx, key, code, msg);
    }
    return RC_OK;
}
