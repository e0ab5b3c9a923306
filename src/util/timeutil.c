/*
 * util/timeutil.c — see timeutil.h.
 */
#include "util/timeutil.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>

int64_t time_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * US_PER_SEC + ts.tv_nsec / 1000;
}

int64_t time_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t time_mono_ms(void)
{
    return time_mono_ns() / 1000000;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

/* days since 1970-01-01 for a proleptic Gregorian date */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yy + (*m <= 2));
}

void time_to_civil(int64_t ts_us, struct civil_time *out)
{
    int64_t days = floor_div(ts_us, US_PER_DAY);
    int64_t rem = ts_us - days * US_PER_DAY;
    civil_from_days(days, &out->year, &out->month, &out->day);
    int64_t secs = rem / US_PER_SEC;
    out->usec = (int)(rem % US_PER_SEC);
    out->hour = (int)(secs / 3600);
    out->minute = (int)(secs / 60 % 60);
    out->second = (int)(secs % 60);
}

int64_t time_from_civil(const struct civil_time *ct)
{
    int64_t days = days_from_civil(ct->year, ct->month, ct->day);
    return days * US_PER_DAY +
           ((int64_t)ct->hour * 3600 + (int64_t)ct->minute * 60 + ct->second) * US_PER_SEC +
           ct->usec;
}

size_t time_format_rfc3339_us(int64_t ts_us, char *out, size_t cap)
{
    struct civil_time ct;
    time_to_civil(ts_us, &ct);
    int n;
    if (ct.usec == 0) {
        n = snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02dZ", ct.year, ct.month, ct.day, ct.hour,
                     ct.minute, ct.second);
    } else {
        char frac[8];
        snprintf(frac, sizeof(frac), "%06d", ct.usec);
        int fl = 6;
        while (fl > 0 && frac[fl - 1] == '0')
            frac[--fl] = '\0';
        n = snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%sZ", ct.year, ct.month, ct.day,
                     ct.hour, ct.minute, ct.second, frac);
    }
    if (n < 0)
        return 0;
    return (size_t)n < cap ? (size_t)n : cap - 1;
}

static bool digits(const char *s, size_t len, size_t at, int count, int *out)
{
    if (at + (size_t)count > len)
        return false;
    int v = 0;
    for (int i = 0; i < count; i++) {
        char c = s[at + (size_t)i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *out = v;
    return true;
}

static int days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dm[m - 1];
}

bool time_parse_rfc3339(const char *s, size_t len, int64_t *out_us)
{
    struct civil_time ct = {0};
    if (!digits(s, len, 0, 4, &ct.year) || len < 10 || s[4] != '-' ||
        !digits(s, len, 5, 2, &ct.month) || s[7] != '-' || !digits(s, len, 8, 2, &ct.day))
        return false;
    if (ct.year < 1 || ct.month < 1 || ct.month > 12 || ct.day < 1 ||
        ct.day > days_in_month(ct.year, ct.month))
        return false;
    size_t i = 10;
    int64_t offset_s = 0;
    if (i < len) {
        if (s[i] != 'T' && s[i] != 't' && s[i] != ' ')
            return false;
        i++;
        if (!digits(s, len, i, 2, &ct.hour) || i + 2 >= len || s[i + 2] != ':' ||
            !digits(s, len, i + 3, 2, &ct.minute))
            return false;
        i += 5;
        if (i < len && s[i] == ':') {
            if (!digits(s, len, i + 1, 2, &ct.second))
                return false;
            i += 3;
        }
        if (ct.hour > 23 || ct.minute > 59 || ct.second > 60)
            return false;
        if (ct.second == 60)
            ct.second = 59; /* leap second: clamp */
        if (i < len && (s[i] == '.' || s[i] == ',')) {
            i++;
            int nd = 0, us = 0;
            while (i < len && s[i] >= '0' && s[i] <= '9') {
                if (nd < 6) {
                    us = us * 10 + (s[i] - '0');
                }
                nd++;
                i++;
            }
            if (nd == 0)
                return false;
            for (int k = nd; k < 6; k++)
                us *= 10;
            ct.usec = us;
        }
        if (i < len) {
            if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == len) {
                i++;
            } else if (s[i] == '+' || s[i] == '-') {
                int oh, om;
                if (!digits(s, len, i + 1, 2, &oh))
                    return false;
                size_t j = i + 3;
                if (j < len && s[j] == ':')
                    j++;
                if (!digits(s, len, j, 2, &om) || j + 2 != len || oh > 23 || om > 59)
                    return false;
                offset_s = (oh * 3600 + om * 60) * (s[i] == '+' ? 1 : -1);
                i = len;
            } else {
                return false;
            }
        }
    }
    *out_us = time_from_civil(&ct) - offset_s * US_PER_SEC;
    return true;
}

int64_t time_floor_hour(int64_t ts_us)
{
    return floor_div(ts_us, US_PER_HOUR) * US_PER_HOUR;
}

int64_t time_floor_day(int64_t ts_us)
{
    return floor_div(ts_us, US_PER_DAY) * US_PER_DAY;
}

void time_sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}
