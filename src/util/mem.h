/*
 * util/mem.h — the one allocator entry point (STYLE.md §5).
 *
 * xmalloc/xcalloc/xrealloc/xstrdup abort with the requested size on OOM: a
 * clean abort beats an untested half-updated state. Every byte is counted so
 * /api/v1/metrics/memory can show what Arc itself holds. Thread-safe.
 * Memory from these functions is released with xfree (which accepts NULL).
 */
#ifndef UTIL_MEM_H
#define UTIL_MEM_H

#include <stddef.h>
#include <stdint.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void xfree(void *p);

/* Bytes currently allocated through this module. */
uint64_t mem_allocated_bytes(void);

#endif
