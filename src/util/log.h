/*
 * util/log.h — levelled logging, one line per event.
 *
 * Usage: log_info("wal", "segment rotated path=%s size=%zu", path, n);
 * The component comes first and the message carries key=value context. The
 * macros test the level before evaluating their arguments. Lines go to stderr
 * as JSON ("structured", the default) or plain text, and into an in-memory
 * ring that GET /api/v1/logs reads. Never pass a token, secret key or
 * Authorization header to these functions.
 *
 * Thread-safe: any thread may log; one mutex guards the ring and stderr.
 */
#ifndef UTIL_LOG_H
#define UTIL_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "util/rc.h"

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };
enum log_format { LOG_FORMAT_STRUCTURED = 0, LOG_FORMAT_TEXT = 1 };

/* Current minimum level (readable without a lock). */
extern volatile int log_min_level;

/* Configures level, format and ring size. May be called again (at startup
 * after the config is read); ring_entries 0 keeps the current ring. */
void log_configure(enum log_level level, enum log_format format, size_t ring_entries);

/* Releases the ring. Logging after this still writes to stderr. */
void log_shutdown(void);

/* Parses DEBUG|INFO|WARN|WARNING|ERROR (case-insensitive). Returns -1 if not
 * a level. */
int log_level_parse(const char *s);
const char *log_level_name(enum log_level level);

void log_write(enum log_level level, const char *component, const char *fmt, ...) ARC_PRINTF(3, 4);

#define log_at(lvl, comp, ...)                                                                     \
    do {                                                                                           \
        if ((int)(lvl) >= log_min_level)                                                           \
            log_write((lvl), (comp), __VA_ARGS__);                                                 \
    } while (0)
#define log_debug(comp, ...) log_at(LOG_DEBUG, comp, __VA_ARGS__)
#define log_info(comp, ...) log_at(LOG_INFO, comp, __VA_ARGS__)
#define log_warn(comp, ...) log_at(LOG_WARN, comp, __VA_ARGS__)
#define log_error(comp, ...) log_at(LOG_ERROR, comp, __VA_ARGS__)

/* One entry of the ring, as returned by log_recent. */
struct log_entry {
    int64_t ts_us; /* wall clock, microseconds since the epoch */
    enum log_level level;
    char component[24];
    char message[1024]; /* truncated if longer */
};

/* Copies up to max entries, newest first, with level >= min_level and
 * ts_us >= since_us, into out (caller-provided array). Returns the count. */
size_t log_recent(struct log_entry *out, size_t max, enum log_level min_level, int64_t since_us);

/* Count of lines logged at WARN or ERROR since start (for tests/metrics). */
uint64_t log_count_at_least(enum log_level level);

#endif
