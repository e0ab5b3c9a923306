/*
 * util/timeutil.h — clocks and UTC calendar arithmetic.
 *
 * All timestamps inside Arc are int64 microseconds since the Unix epoch, UTC
 * (names end in _us). Calendar conversion is done with Howard Hinnant's
 * days-from-civil algorithm, so it is exact for years 0001..9999 without
 * touching the process time zone. Thread-safe.
 */
#ifndef UTIL_TIMEUTIL_H
#define UTIL_TIMEUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define US_PER_SEC INT64_C(1000000)
#define US_PER_HOUR (INT64_C(3600) * US_PER_SEC)
#define US_PER_DAY (INT64_C(86400) * US_PER_SEC)

/* Smallest and largest microsecond timestamps Arc stores: years 0001..9999. */
#define TIME_MIN_US INT64_C(-62135596800000000)
#define TIME_MAX_US INT64_C(253402300799999999)

int64_t time_now_us(void);  /* CLOCK_REALTIME */
int64_t time_mono_ns(void); /* CLOCK_MONOTONIC */
int64_t time_mono_ms(void);

struct civil_time {
    int year, month, day; /* 1-based month and day */
    int hour, minute, second;
    int usec; /* 0..999999 */
};

/* Splits a microsecond timestamp into UTC calendar fields. */
void time_to_civil(int64_t ts_us, struct civil_time *out);
/* Inverse of time_to_civil (fields are not range-checked). */
int64_t time_from_civil(const struct civil_time *ct);

/* Formats RFC 3339 UTC with 'Z'; fractional seconds only when non-zero, with
 * trailing zeros trimmed: "2025-01-15T14:03:07.1234Z". Returns the length. */
size_t time_format_rfc3339_us(int64_t ts_us, char *out, size_t cap);

/* Parses RFC 3339 / ISO-8601: "YYYY-MM-DD", "YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)"
 * (a space may replace 'T'; no zone means UTC). Returns false if invalid. */
bool time_parse_rfc3339(const char *s, size_t len, int64_t *out_us);

/* Floors to the start of the hour / day (correct for negative values). */
int64_t time_floor_hour(int64_t ts_us);
int64_t time_floor_day(int64_t ts_us);

/* Sleeps for ms milliseconds (restarts on EINTR). */
void time_sleep_ms(int64_t ms);

#endif
