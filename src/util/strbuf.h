/*
 * util/strbuf.h — growable byte buffer with an optional hard cap.
 *
 * A strbuf always keeps a NUL after its content so .data can be used as a C
 * string. Appends past max_bytes fail with RC_LIMIT and leave the buffer as it
 * was; a buffer that grows from client input must have a cap (STYLE.md §5).
 * Not thread-safe: one owner at a time.
 */
#ifndef UTIL_STRBUF_H
#define UTIL_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

#include "util/rc.h"

struct strbuf {
    char *data;       /* owned; NUL-terminated; NULL until first append */
    size_t len;       /* content length in bytes */
    size_t cap;       /* allocated bytes */
    size_t max_bytes; /* 0 = unlimited */
};

/* Initialises an empty buffer (no allocation). max_bytes 0 = no cap. */
void strbuf_init(struct strbuf *sb, size_t max_bytes);
/* Frees the content; the buffer can be reused after strbuf_init. */
void strbuf_cleanup(struct strbuf *sb);
/* Empties the buffer, keeping its allocation. */
void strbuf_reset(struct strbuf *sb);
/* Ensures room for n more bytes (plus the NUL). RC_LIMIT past the cap. */
int strbuf_reserve(struct strbuf *sb, size_t n) MUST_CHECK;

int strbuf_append(struct strbuf *sb, const void *p, size_t n);
int strbuf_puts(struct strbuf *sb, const char *s);
int strbuf_putc(struct strbuf *sb, char c);
int strbuf_printf(struct strbuf *sb, const char *fmt, ...) ARC_PRINTF(2, 3);
int strbuf_vprintf(struct strbuf *sb, const char *fmt, va_list ap) ARC_PRINTF(2, 0);

/* Takes ownership of the content (caller frees with xfree); the buffer is
 * left empty. Returns an empty string rather than NULL. */
char *strbuf_detach(struct strbuf *sb, size_t *out_len);

#endif
