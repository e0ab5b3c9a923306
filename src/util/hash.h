/*
 * util/hash.h — FNV-1a, the one string hash the in-memory tables use
 * (column indexes, catalog keys, decoder name tables, WAL dictionaries).
 * Not for anything an attacker's keys could degrade badly: callers bound
 * their probe lengths or table sizes.
 */
#ifndef UTIL_HASH_H
#define UTIL_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_FNV1A_INIT 2166136261u

/* Continues hash h over p[0..n) (start with HASH_FNV1A_INIT). */
static inline uint32_t hash_fnv1a(const void *p, size_t n, uint32_t h)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 16777619u;
    }
    return h;
}

static inline uint32_t hash_fnv1a_bytes(const void *p, size_t n)
{
    return hash_fnv1a(p, n, HASH_FNV1A_INIT);
}

#endif
