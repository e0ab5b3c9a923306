/*
 * util/log.c — log sink and ring buffer (see log.h).
 *
 * One mutex (ring_lock) guards the ring and the write to stderr so lines from
 * different threads never interleave. The formatting happens outside the
 * lock; only the copy into the ring and the fputs hold it.
 */
#include "util/log.h"

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/mem.h"
#include "util/timeutil.h"

volatile int log_min_level = LOG_INFO;
static enum log_format log_fmt = LOG_FORMAT_STRUCTURED;
static _Atomic uint64_t counts[4];

/* ring_lock guards ring, ring_cap, ring_head, ring_len and stderr writes. */
static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;
static struct log_entry *ring;
static size_t ring_cap;
static size_t ring_head; /* next slot to write */
static size_t ring_len;

void log_configure(enum log_level level, enum log_format format, size_t ring_entries)
{
    pthread_mutex_lock(&ring_lock);
    log_min_level = level;
    log_fmt = format;
    if (ring_entries && ring_entries != ring_cap) {
        xfree(ring);
        ring = xcalloc(ring_entries, sizeof(*ring));
        ring_cap = ring_entries;
        ring_head = ring_len = 0;
    }
    pthread_mutex_unlock(&ring_lock);
}

void log_shutdown(void)
{
    pthread_mutex_lock(&ring_lock);
    xfree(ring);
    ring = NULL;
    ring_cap = ring_head = ring_len = 0;
    pthread_mutex_unlock(&ring_lock);
}

int log_level_parse(const char *s)
{
    if (!strcasecmp(s, "debug"))
        return LOG_DEBUG;
    if (!strcasecmp(s, "info"))
        return LOG_INFO;
    if (!strcasecmp(s, "warn") || !strcasecmp(s, "warning"))
        return LOG_WARN;
    if (!strcasecmp(s, "error"))
        return LOG_ERROR;
    return -1;
}

const char *log_level_name(enum log_level level)
{
    static const char *names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    return (unsigned)level < 4 ? names[level] : "INFO";
}

/* Appends s to out as JSON string content (no quotes). */
static size_t json_escape_into(char *out, size_t cap, const char *s)
{
    size_t n = 0;
    for (; *s && n + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else if (c < 0x20) {
            n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c);
        } else {
            out[n++] = (char)c;
        }
    }
    out[n] = '\0';
    return n;
}

void log_write(enum log_level level, const char *component, const char *fmt, ...)
{
    struct log_entry e;
    e.ts_us = time_now_us();
    e.level = level;
    snprintf(e.component, sizeof(e.component), "%s", component);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.message, sizeof(e.message), fmt, ap);
    va_end(ap);
    /* One event is one line: fold embedded newlines. */
    for (char *p = e.message; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';

    char ts[40];
    time_format_rfc3339_us(e.ts_us, ts, sizeof(ts));
    char line[2600];
    if (log_fmt == LOG_FORMAT_TEXT) {
        snprintf(line, sizeof(line), "%s %-5s %s: %s\n", ts, log_level_name(level), e.component,
                 e.message);
    } else {
        char esc[2200];
        json_escape_into(esc, sizeof(esc), e.message);
        snprintf(line, sizeof(line),
                 "{\"time\":\"%s\",\"level\":\"%s\",\"component\":\"%s\",\"msg\":\"%s\"}\n", ts,
                 log_level_name(level), e.component, esc);
    }
    if ((unsigned)level < 4)
        atomic_fetch_add(&counts[level], 1);

    pthread_mutex_lock(&ring_lock);
    if (ring_cap) {
        ring[ring_head] = e;
        ring_head = (ring_head + 1) % ring_cap;
        if (ring_len < ring_cap)
            ring_len++;
    }
    fputs(line, stderr);
    pthread_mutex_unlock(&ring_lock);
}

size_t log_recent(struct log_entry *out, size_t max, enum log_level min_level, int64_t since_us)
{
    size_t n = 0;
    pthread_mutex_lock(&ring_lock);
    for (size_t i = 0; i < ring_len && n < max; i++) {
        size_t idx = (ring_head + ring_cap - 1 - i) % ring_cap;
        const struct log_entry *e = &ring[idx];
        if (e->level >= min_level && e->ts_us >= since_us)
            out[n++] = *e;
    }
    pthread_mutex_unlock(&ring_lock);
    return n;
}

uint64_t log_count_at_least(enum log_level level)
{
    uint64_t n = 0;
    for (int l = level; l < 4; l++)
        n += atomic_load(&counts[l]);
    return n;
}
