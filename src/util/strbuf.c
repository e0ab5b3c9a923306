/*
 * util/strbuf.c — see strbuf.h.
 */
#include "util/strbuf.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "util/mem.h"

void strbuf_init(struct strbuf *sb, size_t max_bytes)
{
    sb->data = NULL;
    sb->len = sb->cap = 0;
    sb->max_bytes = max_bytes;
}

void strbuf_cleanup(struct strbuf *sb)
{
    xfree(sb->data);
    sb->data = NULL;
    sb->len = sb->cap = 0;
}

void strbuf_reset(struct strbuf *sb)
{
    sb->len = 0;
    if (sb->data)
        sb->data[0] = '\0';
}

int strbuf_reserve(struct strbuf *sb, size_t n)
{
    if (n > SIZE_MAX / 2 - sb->len)
        return RC_LIMIT;
    size_t need = sb->len + n + 1;
    if (sb->max_bytes && sb->len + n > sb->max_bytes)
        return RC_LIMIT;
    if (need <= sb->cap)
        return RC_OK;
    size_t ncap = sb->cap ? sb->cap : 64;
    while (ncap < need)
        ncap *= 2;
    if (sb->max_bytes && ncap > sb->max_bytes + 1)
        ncap = sb->max_bytes + 1 > need ? sb->max_bytes + 1 : need;
    bool first = sb->data == NULL;
    sb->data = xrealloc(sb->data, ncap);
    sb->cap = ncap;
    if (first)
        sb->data[0] = '\0'; /* a non-NULL strbuf is always a valid string */
    return RC_OK;
}

int strbuf_append(struct strbuf *sb, const void *p, size_t n)
{
    int rc = strbuf_reserve(sb, n);
    if (rc)
        return rc;
    if (n)
        memcpy(sb->data + sb->len, p, n);
    sb->len += n;
    sb->data[sb->len] = '\0';
    return RC_OK;
}

int strbuf_puts(struct strbuf *sb, const char *s)
{
    return strbuf_append(sb, s, strlen(s));
}

int strbuf_putc(struct strbuf *sb, char c)
{
    return strbuf_append(sb, &c, 1);
}

int strbuf_vprintf(struct strbuf *sb, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    char small[256];
    int n = vsnprintf(small, sizeof(small), fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return RC_INTERNAL;
    if ((size_t)n < sizeof(small))
        return strbuf_append(sb, small, (size_t)n);
    int rc = strbuf_reserve(sb, (size_t)n);
    if (rc)
        return rc;
    vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
    sb->len += (size_t)n;
    return RC_OK;
}

int strbuf_printf(struct strbuf *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = strbuf_vprintf(sb, fmt, ap);
    va_end(ap);
    return rc;
}

char *strbuf_detach(struct strbuf *sb, size_t *out_len)
{
    char *p = sb->data ? sb->data : xstrdup("");
    if (out_len)
        *out_len = sb->len;
    sb->data = NULL;
    sb->len = sb->cap = 0;
    return p;
}
