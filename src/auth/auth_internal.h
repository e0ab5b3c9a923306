/*
 * auth/auth_internal.h — declarations shared by the files of src/auth/ only: token
 * hashing (crypto.c), the SQLite store (store.c) and the verification cache
 * (cache.c). Not part of the module's contract.
 */
#ifndef AUTH_AUTH_INTERNAL_H
#define AUTH_AUTH_INTERNAL_H

#include "auth/auth.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* --- crypto.c ------------------------------------------------------------------ */

#define AUTH__SHA256_LEN 32
#define AUTH__LOOKUP_HEX 16 /* hex chars of SHA-256 kept as the lookup key */

void auth__sha256(const void *p, size_t n, unsigned char out[AUTH__SHA256_LEN]);
/* Lookup key of a token: first 16 hex chars of SHA-256(token), NUL-terminated. */
void auth__lookup_key(const char *token, char out[AUTH__LOOKUP_HEX + 1]);
/* 32 CSPRNG bytes as base64url without padding (43 chars + NUL).
 * RC_INTERNAL if the CSPRNG fails. */
int auth__generate_secret(char out[AUTH_TOKEN_GEN_CHARS + 1]) MUST_CHECK;
/* Verifier strings (caller xfrees):
 *   "$sha256$<64 hex>"                                  server-generated tokens
 *   "$pbkdf2-sha256$<iter>$<b64 salt>$<b64 key>"        operator-supplied tokens
 * (b64 = standard alphabet, no padding; 16-byte salt, 32-byte key). NULL if
 * the CSPRNG fails. */
char *auth__verifier_sha256(const char *token);
char *auth__verifier_pbkdf2(const char *token, int iterations);
/* Constant-time comparison of token against a verifier of either form.
 * False for a malformed verifier. */
bool auth__verifier_check(const char *verifier, const char *token);
/* Base64 without padding; url selects the -_ alphabet. Returns the length
 * written (out must hold 4*ceil(n/3)+1 bytes). */
size_t auth__base64_encode(const unsigned char *in, size_t n, bool url, char *out, size_t cap);

/* --- store.c: the SQLite table ------------------------------------------------ */

/*
 * Table auth_tokens (in the file auth.db_path, shared with other metadata):
 *
 *   id            INTEGER PRIMARY KEY AUTOINCREMENT
 *   name          TEXT NOT NULL UNIQUE
 *   description   TEXT NOT NULL DEFAULT ''
 *   permissions   TEXT NOT NULL          "read,write" (canonical order)
 *   lookup_key    TEXT NOT NULL          first 16 hex of SHA-256(token), indexed
 *   verifier      TEXT NOT NULL          see crypto.c
 *   created_at_us INTEGER NOT NULL
 *   last_used_us  INTEGER                NULL until first use
 *   expires_at_us INTEGER                NULL = never
 *   enabled       INTEGER NOT NULL DEFAULT 1
 */
struct auth__store;

/* One candidate row for a lookup key. */
struct auth__cand {
    struct auth_principal p;
    bool enabled;
    char *verifier; /* owned */
};

int auth__store_open(const char *path, struct auth__store **out, struct errbuf *eb) MUST_CHECK;
void auth__store_close(struct auth__store **s);

int auth__store_count(struct auth__store *s, int64_t *out, struct errbuf *eb) MUST_CHECK;

/* Insert flags. */
#define AUTH__INS_IF_EMPTY 0x1u /* RC_EXISTS (message "not empty") unless the table is empty */
#define AUTH__INS_REPLACE 0x2u  /* a row with this name gets the new secret/perms instead */

/* Inserts a token (name, description, perms, expiry from spec, enabled) with
 * the given lookup key and verifier, in one IMMEDIATE transaction. *out_id
 * gets its id. RC_EXISTS for a duplicate name (or a non-empty table with
 * AUTH__INS_IF_EMPTY). */
int auth__store_insert(struct auth__store *s, const struct auth_token_spec *spec,
                       int64_t created_at_us, const char *lookup, const char *verifier,
                       unsigned flags, int64_t *out_id, struct errbuf *eb) MUST_CHECK;

/* Rows whose lookup key equals lookup (normally 0 or 1). *out owned by the
 * caller (auth__cands_free). */
int auth__store_find(struct auth__store *s, const char *lookup, struct auth__cand **out, size_t *n,
                     struct errbuf *eb) MUST_CHECK;
void auth__cands_free(struct auth__cand *c, size_t n);

/* Metadata of one row (by id when name == NULL, else by name). RC_NOT_FOUND. */
int auth__store_get(struct auth__store *s, int64_t id, const char *name,
                    struct auth_token_info *out, struct errbuf *eb) MUST_CHECK;
int auth__store_list(struct auth__store *s, struct auth_token_info **out, size_t *n,
                     struct errbuf *eb) MUST_CHECK;

/* Applies spec (PATCH semantics) to row id in one transaction. RC_NOT_FOUND,
 * RC_EXISTS (name taken). */
int auth__store_update(struct auth__store *s, int64_t id, const struct auth_token_spec *spec,
                       struct errbuf *eb) MUST_CHECK;
/* Replaces lookup key and verifier of row id. RC_NOT_FOUND. */
int auth__store_set_secret(struct auth__store *s, int64_t id, const char *lookup,
                           const char *verifier, struct errbuf *eb) MUST_CHECK;
int auth__store_delete(struct auth__store *s, int64_t id, struct errbuf *eb) MUST_CHECK;

/* Persists last-use times (newer values only), one transaction. */
struct auth__use {
    int64_t id;
    int64_t ts_us;
};
int auth__store_touch(struct auth__store *s, const struct auth__use *uses, size_t n,
                      struct errbuf *eb) MUST_CHECK;

/* SQLite's PRAGMA data_version: changes when another connection (another
 * process, e.g. `arc token revoke`) commits. */
int auth__store_data_version(struct auth__store *s, int64_t *out) MUST_CHECK;

/* --- cache.c: LRU of successful verifications ----------------------------------- */

struct auth__centry;

/* Not thread-safe: the owner (struct auth) guards it with cache_lock. */
struct auth__cache {
    struct auth__centry **buckets;
    size_t nbuckets;                          /* power of two */
    struct auth__centry *lru_head, *lru_tail; /* head = most recently used */
    size_t size;
    size_t max_size;     /* 0 = caching disabled */
    int64_t ttl_ms;      /* 0 = caching disabled */
    uint64_t generation; /* bumped by clear; see auth.c */
    uint64_t hits, misses, evictions;
};

void auth__cache_init(struct auth__cache *c, size_t max_size, int64_t ttl_ms);
void auth__cache_cleanup(struct auth__cache *c);
/* Looks key up; an entry older than the TTL is removed and reported as a
 * miss. On a hit the entry becomes most recently used and *out is copied.
 * Counts hits/misses. */
bool auth__cache_get(struct auth__cache *c, const unsigned char key[AUTH__SHA256_LEN],
                     int64_t now_ms, struct auth_principal *out);
/* Inserts or replaces key, evicting the least recently used entry when full. */
void auth__cache_put(struct auth__cache *c, const unsigned char key[AUTH__SHA256_LEN],
                     const struct auth_principal *p, int64_t now_ms);
/* Removes every entry and bumps the generation. */
void auth__cache_clear(struct auth__cache *c);

#endif
