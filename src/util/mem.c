/*
 * util/mem.c — counting allocator wrappers (see mem.h).
 *
 * The usable size comes from malloc_usable_size so that xfree can subtract
 * exactly what xmalloc added without a header in front of every block (which
 * would break alignment guarantees and confuse sanitizers).
 */
#include "util/mem.h"

#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Atomic uint64_t allocated;

static void oom(size_t n)
{
    fprintf(stderr, "arc: out of memory allocating %zu bytes\n", n);
    abort();
}

static void *account(void *p, size_t n)
{
    if (!p)
        oom(n);
    atomic_fetch_add_explicit(&allocated, malloc_usable_size(p), memory_order_relaxed);
    return p;
}

void *xmalloc(size_t n)
{
    return account(malloc(n ? n : 1), n);
}

void *xcalloc(size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size)
        oom(SIZE_MAX);
    return account(calloc(count ? count : 1, size ? size : 1), count * size);
}

void *xrealloc(void *p, size_t n)
{
    size_t old = p ? malloc_usable_size(p) : 0;
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    atomic_fetch_sub_explicit(&allocated, old, memory_order_relaxed);
    atomic_fetch_add_explicit(&allocated, malloc_usable_size(q), memory_order_relaxed);
    return q;
}

char *xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void xfree(void *p)
{
    if (!p)
        return;
    atomic_fetch_sub_explicit(&allocated, malloc_usable_size(p), memory_order_relaxed);
    free(p);
}

uint64_t mem_allocated_bytes(void)
{
    return atomic_load_explicit(&allocated, memory_order_relaxed);
}
