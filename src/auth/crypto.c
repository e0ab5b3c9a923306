/*
 * auth/crypto.c — token generation and hashing (SPEC §5.7), the only file of
 * the module that calls OpenSSL.
 *
 * A token is never stored. Each row keeps:
 *   lookup key  first 16 hex chars of SHA-256(token), indexed, so a presented
 *               token whose key matches nothing is rejected after one SHA-256;
 *   verifier    compared in constant time (CRYPTO_memcmp):
 *                 "$sha256$<64 hex>"  for server-generated tokens (256 random
 *                                     bits: brute force is infeasible, so a
 *                                     slow hash would only cost CPU);
 *                 "$pbkdf2-sha256$<iterations>$<b64 salt>$<b64 key>"
 *                                     for operator-chosen tokens (bootstrap),
 *                                     16-byte random salt, 32-byte key,
 *                                     standard base64 without padding.
 *
 * Stateless and thread-safe (OpenSSL 1.1+ is thread-safe by default).
 */
#include "auth/auth_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "util/mem.h"

#define SALT_LEN 16
#define KEY_LEN 32

void auth__sha256(const void *p, size_t n, unsigned char out[AUTH__SHA256_LEN])
{
    unsigned int len = 0;
    /* EVP_Digest cannot fail for SHA-256 on valid arguments short of an
     * allocation failure inside OpenSSL; then the output stays zeroed and
     * no verifier can match it. */
    memset(out, 0, AUTH__SHA256_LEN);
    if (EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) != 1)
        memset(out, 0, AUTH__SHA256_LEN);
}

static void hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void auth__lookup_key(const char *token, char out[AUTH__LOOKUP_HEX + 1])
{
    unsigned char d[AUTH__SHA256_LEN];
    auth__sha256(token, strlen(token), d);
    hex(d, AUTH__LOOKUP_HEX / 2, out);
}

size_t auth__base64_encode(const unsigned char *in, size_t n, bool url, char *out, size_t cap)
{
    const char *alpha = url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                            : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        size_t rem = n - i;
        if (rem > 1)
            v |= (uint32_t)in[i + 1] << 8;
        if (rem > 2)
            v |= in[i + 2];
        size_t chars = rem >= 3 ? 4 : rem + 1;
        for (size_t k = 0; k < chars && o + 1 < cap; k++)
            out[o++] = alpha[(v >> (18 - 6 * k)) & 63];
    }
    if (cap)
        out[o < cap ? o : cap - 1] = '\0';
    return o;
}

int auth__generate_secret(char out[AUTH_TOKEN_GEN_CHARS + 1])
{
    unsigned char raw[32];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return RC_INTERNAL;
    auth__base64_encode(raw, sizeof(raw), true, out, AUTH_TOKEN_GEN_CHARS + 1);
    OPENSSL_cleanse(raw, sizeof(raw));
    return RC_OK;
}

char *auth__verifier_sha256(const char *token)
{
    unsigned char d[AUTH__SHA256_LEN];
    auth__sha256(token, strlen(token), d);
    char *v = xmalloc(8 + 2 * AUTH__SHA256_LEN + 1);
    memcpy(v, "$sha256$", 8);
    hex(d, AUTH__SHA256_LEN, v + 8);
    return v;
}

static bool pbkdf2(const char *token, const unsigned char *salt, size_t salt_len, int iterations,
                   unsigned char key[KEY_LEN])
{
    return PKCS5_PBKDF2_HMAC(token, (int)strlen(token), salt, (int)salt_len, iterations,
                             EVP_sha256(), KEY_LEN, key) == 1;
}

char *auth__verifier_pbkdf2(const char *token, int iterations)
{
    unsigned char salt[SALT_LEN], key[KEY_LEN];
    if (iterations < 1 || RAND_bytes(salt, sizeof(salt)) != 1 ||
        !pbkdf2(token, salt, sizeof(salt), iterations, key))
        return NULL;
    char s64[32], k64[64];
    auth__base64_encode(salt, sizeof(salt), false, s64, sizeof(s64));
    auth__base64_encode(key, sizeof(key), false, k64, sizeof(k64));
    size_t cap = 16 + 12 + sizeof(s64) + sizeof(k64) + 4;
    char *v = xmalloc(cap);
    snprintf(v, cap, "$pbkdf2-sha256$%d$%s$%s", iterations, s64, k64);
    OPENSSL_cleanse(key, sizeof(key));
    return v;
}

/* Parses "$pbkdf2-sha256$<iter>$<salt>$<key>". */
static bool parse_pbkdf2(const char *v, int *iter, unsigned char *salt, size_t *salt_len,
                         unsigned char key[KEY_LEN])
{
    const char *prefix = "$pbkdf2-sha256$";
    size_t pl = strlen(prefix);
    if (strncmp(v, prefix, pl) != 0)
        return false;
    const char *p = v + pl;
    char *end = NULL;
    long it = strtol(p, &end, 10);
    if (end == p || *end != '$' || it < 1 || it > 100000000)
        return false;
    *iter = (int)it;
    const char *s = end + 1;
    const char *d = strchr(s, '$');
    if (!d)
        return false;
    char buf[128];
    size_t n = 0;
    if (!auth_base64_decode(s, (size_t)(d - s), buf, sizeof(buf), &n) || n == 0 || n > 64)
        return false;
    memcpy(salt, buf, n);
    *salt_len = n;
    if (!auth_base64_decode(d + 1, strlen(d + 1), buf, sizeof(buf), &n) || n != KEY_LEN)
        return false;
    memcpy(key, buf, KEY_LEN);
    return true;
}

bool auth__verifier_check(const char *verifier, const char *token)
{
    if (!verifier || !token)
        return false;
    if (strncmp(verifier, "$sha256$", 8) == 0) {
        char *mine = auth__verifier_sha256(token);
        bool ok =
            strlen(verifier) == strlen(mine) && CRYPTO_memcmp(verifier, mine, strlen(mine)) == 0;
        xfree(mine);
        return ok;
    }
    int iter = 0;
    unsigned char salt[64], want[KEY_LEN], got[KEY_LEN];
    size_t salt_len = 0;
    if (!parse_pbkdf2(verifier, &iter, salt, &salt_len, want))
        return false;
    if (!pbkdf2(token, salt, salt_len, iter, got))
        return false;
    bool ok = CRYPTO_memcmp(want, got, KEY_LEN) == 0;
    OPENSSL_cleanse(got, sizeof(got));
    return ok;
}
