/*
 * storage/sigv4.c — AWS Signature Version 4 for S3 (see sigv4.h).
 *
 *   CanonicalRequest = Method \n EncodedPath \n SortedQuery \n
 *                      CanonicalHeaders \n SignedHeaders \n PayloadHash
 *   StringToSign     = "AWS4-HMAC-SHA256" \n AmzDate \n Scope \n
 *                      hex(SHA256(CanonicalRequest))
 *   SigningKey       = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region),
 *                      service), "aws4_request")
 *   Signature        = hex(HMAC(SigningKey, StringToSign))
 *
 * Owns nothing: every buffer is local to a call. Called by any thread that
 * performs an S3 request. OpenSSL's one-shot EVP_Digest and HMAC are
 * reentrant. Intermediate keys are wiped before returning.
 */
#include "storage/sigv4.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "util/mem.h"
#include "util/timeutil.h"

#define SCRATCH_MAX (64 * 1024) /* one header value or query item, encoded */

void sigv4_hex(const unsigned char *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

void sigv4_sha256_hex(const void *p, size_t n, char out[SIGV4_HEX_LEN + 1])
{
    unsigned char md[32];
    unsigned int len = 0;
    /* EVP_Digest only fails on allocation failure inside OpenSSL; a zero
     * digest then makes the signature wrong, which the server rejects. */
    if (EVP_Digest(p, n, md, &len, EVP_sha256(), NULL) != 1)
        memset(md, 0, sizeof(md));
    sigv4_hex(md, 32, out);
}

static void hmac256(const void *key, size_t key_len, const void *msg, size_t msg_len,
                    unsigned char out[32])
{
    unsigned int len = 32;
    if (!HMAC(EVP_sha256(), key, (int)key_len, msg, msg_len, out, &len))
        memset(out, 0, 32);
}

void sigv4_amz_date(int64_t ts_us, char out[SIGV4_AMZ_DATE_LEN + 1])
{
    struct civil_time ct;
    time_to_civil(ts_us, &ct);
    /* Years 0001..9999 only (timeutil's domain), so the width is fixed; the
     * roomy buffer only keeps -Wformat-truncation quiet. */
    char tmp[64];
    snprintf(tmp, sizeof(tmp), "%04d%02d%02dT%02d%02d%02dZ", ct.year % 10000, ct.month, ct.day,
             ct.hour, ct.minute, ct.second);
    memcpy(out, tmp, SIGV4_AMZ_DATE_LEN);
    out[SIGV4_AMZ_DATE_LEN] = '\0';
}

static bool is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

int sigv4_uri_encode(struct strbuf *out, const char *s, size_t n, bool encode_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    /* strbuf_reserve leaves a first allocation unterminated: skip it for n == 0. */
    int rc = n ? strbuf_reserve(out, n) : RC_OK;
    for (size_t i = 0; i < n && rc == RC_OK; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_unreserved(c) || (c == '/' && !encode_slash)) {
            rc = strbuf_putc(out, (char)c);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            rc = strbuf_append(out, e, 3);
        }
    }
    return rc;
}

static bool amz_date_ok(const char *d)
{
    if (!d || strlen(d) != SIGV4_AMZ_DATE_LEN || d[8] != 'T' || d[15] != 'Z')
        return false;
    for (int i = 0; i < 15; i++)
        if (i != 8 && (d[i] < '0' || d[i] > '9'))
            return false;
    return true;
}

static bool payload_hash_ok(const char *h)
{
    if (!h)
        return false;
    if (strcmp(h, SIGV4_UNSIGNED_PAYLOAD) == 0)
        return true;
    if (strlen(h) != SIGV4_HEX_LEN)
        return false;
    for (const char *p = h; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

/* RFC 7230 token characters. */
static bool is_tchar(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool scope_part_ok(const char *s)
{
    if (!s || !*s)
        return false;
    for (; *s; s++)
        if (*s == '/' || *s == '\n' || *s == '\r' || *s == ' ')
            return false;
    return true;
}

/* ---- canonical query ------------------------------------------------------ */

struct enc_pair {
    char *name;  /* encoded, owned */
    char *value; /* encoded, owned */
};

static int pair_cmp(const void *a, const void *b)
{
    const struct enc_pair *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

static char *encode_dup(const char *s, int *rc)
{
    struct strbuf sb;
    strbuf_init(&sb, SCRATCH_MAX);
    if (*rc == RC_OK)
        *rc = sigv4_uri_encode(&sb, s ? s : "", s ? strlen(s) : 0, true);
    if (*rc == RC_OK)
        *rc = strbuf_append(&sb, "", 0); /* terminates an empty result too */
    if (*rc != RC_OK) {
        strbuf_cleanup(&sb);
        return NULL;
    }
    return strbuf_detach(&sb, NULL);
}

static int canonical_query(const struct sigv4_request *req, struct strbuf *out, struct errbuf *eb)
{
    if (req->nquery == 0)
        return RC_OK;
    struct enc_pair *pairs = xcalloc(req->nquery, sizeof(*pairs));
    int rc = RC_OK;
    for (size_t i = 0; i < req->nquery && rc == RC_OK; i++) {
        if (!req->query[i].name || !req->query[i].name[0]) {
            rc = errbuf_set(eb, RC_INVALID, "sigv4: empty query parameter name");
            break;
        }
        pairs[i].name = encode_dup(req->query[i].name, &rc);
        pairs[i].value = encode_dup(req->query[i].value, &rc);
    }
    if (rc == RC_OK) {
        qsort(pairs, req->nquery, sizeof(*pairs), pair_cmp);
        for (size_t i = 0; i < req->nquery && rc == RC_OK; i++) {
            if (i)
                rc = strbuf_putc(out, '&');
            if (rc == RC_OK)
                rc = strbuf_puts(out, pairs[i].name);
            if (rc == RC_OK)
                rc = strbuf_putc(out, '=');
            if (rc == RC_OK)
                rc = strbuf_puts(out, pairs[i].value);
        }
        if (rc != RC_OK)
            rc = errbuf_set(eb, rc, "sigv4: query too long");
    } else if (rc == RC_LIMIT) {
        rc = errbuf_set(eb, rc, "sigv4: query parameter too long");
    }
    for (size_t i = 0; i < req->nquery; i++) {
        xfree(pairs[i].name);
        xfree(pairs[i].value);
    }
    xfree(pairs);
    return rc;
}

/* ---- canonical headers ---------------------------------------------------- */

struct canon_header {
    char *name;  /* lower-case, owned */
    char *value; /* trimmed, owned */
    size_t order;
};

static int header_cmp(const void *a, const void *b)
{
    const struct canon_header *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    /* Repeated names keep their given order (values are joined with ','). */
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Trims leading/trailing blanks and collapses inner runs of SP/HTAB. */
static char *trim_value(const char *v)
{
    size_t n = strlen(v);
    char *out = xmalloc(n + 1);
    size_t o = 0;
    bool pending_space = false;
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        if (c == ' ' || c == '\t') {
            pending_space = o > 0;
            continue;
        }
        if (pending_space)
            out[o++] = ' ';
        pending_space = false;
        out[o++] = c;
    }
    out[o] = '\0';
    return out;
}

static int canonical_headers(const struct sigv4_request *req, struct strbuf *canon,
                             struct strbuf *signed_names, struct errbuf *eb)
{
    if (req->nheaders == 0)
        return errbuf_set(eb, RC_INVALID, "sigv4: no headers to sign (host is required)");
    struct canon_header *h = xcalloc(req->nheaders, sizeof(*h));
    int rc = RC_OK;
    bool have_host = false;
    for (size_t i = 0; i < req->nheaders; i++) {
        const char *name = req->headers[i].name;
        const char *value = req->headers[i].value ? req->headers[i].value : "";
        if (!name || !name[0]) {
            rc = errbuf_set(eb, RC_INVALID, "sigv4: empty header name");
            goto out;
        }
        size_t nl = strlen(name);
        h[i].name = xmalloc(nl + 1);
        for (size_t k = 0; k <= nl; k++) {
            unsigned char c = (unsigned char)name[k];
            if (k < nl && !is_tchar(c)) {
                rc = errbuf_set(eb, RC_INVALID, "sigv4: bad header name");
                goto out;
            }
            h[i].name[k] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
        }
        if (strpbrk(value, "\r\n")) {
            rc = errbuf_set(eb, RC_INVALID, "sigv4: header %s contains a line break", h[i].name);
            goto out;
        }
        h[i].value = trim_value(value);
        h[i].order = i;
        if (strcmp(h[i].name, "host") == 0)
            have_host = true;
    }
    if (!have_host) {
        rc = errbuf_set(eb, RC_INVALID, "sigv4: the host header must be signed");
        goto out;
    }
    qsort(h, req->nheaders, sizeof(*h), header_cmp);
    for (size_t i = 0; i < req->nheaders && rc == RC_OK; i++) {
        bool repeat = i > 0 && strcmp(h[i].name, h[i - 1].name) == 0;
        if (repeat) {
            rc = strbuf_putc(canon, ',');
        } else {
            if (i > 0) {
                rc = strbuf_putc(canon, '\n');
                if (rc == RC_OK)
                    rc = strbuf_putc(signed_names, ';');
            }
            if (rc == RC_OK)
                rc = strbuf_puts(canon, h[i].name);
            if (rc == RC_OK)
                rc = strbuf_putc(canon, ':');
            if (rc == RC_OK)
                rc = strbuf_puts(signed_names, h[i].name);
        }
        if (rc == RC_OK)
            rc = strbuf_puts(canon, h[i].value);
    }
    if (rc == RC_OK)
        rc = strbuf_putc(canon, '\n'); /* each header line ends with \n */
    if (rc != RC_OK)
        rc = errbuf_set(eb, rc, "sigv4: headers too long");
out:
    for (size_t i = 0; i < req->nheaders; i++) {
        xfree(h[i].name);
        xfree(h[i].value);
    }
    xfree(h);
    return rc;
}

/* ---- signing -------------------------------------------------------------- */

void sigv4_debug_init(struct sigv4_debug *dbg)
{
    strbuf_init(&dbg->canonical_request, 0);
    strbuf_init(&dbg->string_to_sign, 0);
    strbuf_init(&dbg->signed_headers, 0);
    dbg->signature[0] = '\0';
}

void sigv4_debug_cleanup(struct sigv4_debug *dbg)
{
    if (!dbg)
        return;
    strbuf_cleanup(&dbg->canonical_request);
    strbuf_cleanup(&dbg->string_to_sign);
    strbuf_cleanup(&dbg->signed_headers);
}

int sigv4_authorization(const struct sigv4_request *req, const struct sigv4_credentials *cred,
                        const struct sigv4_scope *scope, struct strbuf *out,
                        struct sigv4_debug *dbg, struct errbuf *eb)
{
    if (!req || !cred || !scope || !req->method || !req->method[0] || !req->path ||
        req->path[0] != '/')
        return errbuf_set(eb, RC_INVALID, "sigv4: method and absolute path are required");
    if (!cred->access_key || !cred->access_key[0] || !cred->secret_key || !cred->secret_key[0])
        return errbuf_set(eb, RC_INVALID, "sigv4: missing credentials");
    if (!amz_date_ok(scope->amz_date))
        return errbuf_set(eb, RC_INVALID, "sigv4: bad x-amz-date");
    if (!scope_part_ok(scope->region) || !scope_part_ok(scope->service) ||
        !scope_part_ok(cred->access_key))
        return errbuf_set(eb, RC_INVALID, "sigv4: bad region, service or access key id");
    if (!payload_hash_ok(req->payload_hash))
        return errbuf_set(eb, RC_INVALID, "sigv4: bad payload hash");
    for (const char *m = req->method; *m; m++)
        if (!is_tchar((unsigned char)*m))
            return errbuf_set(eb, RC_INVALID, "sigv4: bad method");

    int rc = RC_OK;
    struct strbuf creq, names, sts;
    strbuf_init(&creq, 0);
    strbuf_init(&names, 0);
    strbuf_init(&sts, 0);
    unsigned char k1[32], k2[32], k3[32], k4[32], sig[32];
    char sig_hex[SIGV4_HEX_LEN + 1];
    char creq_hash[SIGV4_HEX_LEN + 1];
    char date[9];
    memcpy(date, scope->amz_date, 8);
    date[8] = '\0';

    /* Canonical request. */
    if ((rc = strbuf_puts(&creq, req->method)) != RC_OK ||
        (rc = strbuf_putc(&creq, '\n')) != RC_OK ||
        (rc = sigv4_uri_encode(&creq, req->path, strlen(req->path), false)) != RC_OK ||
        (rc = strbuf_putc(&creq, '\n')) != RC_OK)
        goto out;
    if ((rc = canonical_query(req, &creq, eb)) != RC_OK)
        goto out;
    if ((rc = strbuf_putc(&creq, '\n')) != RC_OK)
        goto out;
    if ((rc = canonical_headers(req, &creq, &names, eb)) != RC_OK)
        goto out;
    if ((rc = strbuf_putc(&creq, '\n')) != RC_OK ||
        (rc = strbuf_puts(&creq, names.data)) != RC_OK ||
        (rc = strbuf_putc(&creq, '\n')) != RC_OK ||
        (rc = strbuf_puts(&creq, req->payload_hash)) != RC_OK)
        goto out;
    sigv4_sha256_hex(creq.data, creq.len, creq_hash);

    /* String to sign. */
    if ((rc = strbuf_printf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s",
                            scope->amz_date, date, scope->region, scope->service, creq_hash)) !=
        RC_OK)
        goto out;

    /* Signing key and signature. */
    {
        size_t sl = strlen(cred->secret_key);
        char *kdate = xmalloc(sl + 5);
        memcpy(kdate, "AWS4", 4);
        memcpy(kdate + 4, cred->secret_key, sl + 1);
        hmac256(kdate, sl + 4, date, 8, k1);
        OPENSSL_cleanse(kdate, sl + 4);
        xfree(kdate);
    }
    hmac256(k1, 32, scope->region, strlen(scope->region), k2);
    hmac256(k2, 32, scope->service, strlen(scope->service), k3);
    hmac256(k3, 32, "aws4_request", 12, k4);
    hmac256(k4, 32, sts.data, sts.len, sig);
    sigv4_hex(sig, 32, sig_hex);

    rc = strbuf_printf(out,
                       "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, "
                       "Signature=%s",
                       cred->access_key, date, scope->region, scope->service, names.data, sig_hex);
    if (rc == RC_OK && dbg) {
        if (strbuf_append(&dbg->canonical_request, creq.data, creq.len) != RC_OK ||
            strbuf_append(&dbg->string_to_sign, sts.data, sts.len) != RC_OK ||
            strbuf_append(&dbg->signed_headers, names.data, names.len) != RC_OK)
            rc = RC_LIMIT;
        memcpy(dbg->signature, sig_hex, sizeof(sig_hex));
    }
out:
    if (rc != RC_OK && (!eb || eb->rc == RC_OK))
        rc = errbuf_set(eb, rc, "sigv4: request too large to sign");
    OPENSSL_cleanse(k1, sizeof(k1));
    OPENSSL_cleanse(k2, sizeof(k2));
    OPENSSL_cleanse(k3, sizeof(k3));
    OPENSSL_cleanse(k4, sizeof(k4));
    strbuf_cleanup(&creq);
    strbuf_cleanup(&names);
    strbuf_cleanup(&sts);
    return rc;
}
