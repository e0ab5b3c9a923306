/*
 * jobs/cron.c — 5-field cron expressions in UTC (scheduler.h): parsing into
 * bit sets and finding the next matching minute.
 *
 * Grammar per field (Vixie cron): `*`, `N`, `N-M`, any of those followed by
 * `/STEP`, and comma-separated lists of them. `N/STEP` means `N-max/STEP`.
 * Month and weekday fields also take three-letter English names (jan..dec,
 * sun..sat, case-insensitive). Weekday 7 is Sunday. The macros @yearly
 * (@annually), @monthly, @weekly, @daily (@midnight) and @hourly are
 * accepted as well.
 *
 * Day matching follows cron: when both day-of-month and day-of-week are
 * restricted (neither starts with `*`), a day matches if EITHER matches;
 * otherwise both must (the `*` one always does).
 *
 * Pure functions; any thread.
 */
#include "jobs/scheduler.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/timeutil.h"

struct field_spec {
    const char *what;
    int lo, hi;
    const char *const *names; /* names[i] is the value lo + i, or NULL */
    size_t n_names;
};

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                          "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const wday_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

static const struct field_spec specs[5] = {
    {"minute", 0, 59, NULL, 0},           {"hour", 0, 23, NULL, 0},
    {"day-of-month", 1, 31, NULL, 0},     {"month", 1, 12, month_names, 12},
    {"day-of-week", 0, 7, wday_names, 7},
};

/* Parses a number or a name at *p; advances *p. */
static bool parse_value(const char **p, const char *end, const struct field_spec *f, int *out)
{
    const char *s = *p;
    if (s < end && *s >= '0' && *s <= '9') {
        int v = 0;
        while (s < end && *s >= '0' && *s <= '9') {
            v = v * 10 + (*s - '0');
            if (v > 1000)
                return false;
            s++;
        }
        *p = s;
        *out = v;
        return true;
    }
    if (f->names && end - s >= 3) {
        for (size_t i = 0; i < f->n_names; i++) {
            if (strncasecmp(s, f->names[i], 3) == 0) {
                *p = s + 3;
                *out = f->lo + (int)i;
                return true;
            }
        }
    }
    return false;
}

/* Parses one field [s, end) into the bit set *bits. */
static int parse_field(const char *s, const char *end, const struct field_spec *f, uint64_t *bits,
                       bool *star, struct errbuf *eb)
{
    *bits = 0;
    *star = s < end && *s == '*';
    const char *item = s;
    while (item <= end) {
        const char *comma = memchr(item, ',', (size_t)(end - item));
        const char *iend = comma ? comma : end;
        const char *p = item;
        int lo, hi, step = 1;
        if (p == iend)
            goto bad;
        if (*p == '*') {
            lo = f->lo;
            hi = f->hi;
            p++;
        } else {
            if (!parse_value(&p, iend, f, &lo))
                goto bad;
            hi = lo;
            if (p < iend && *p == '-') {
                p++;
                if (!parse_value(&p, iend, f, &hi))
                    goto bad;
            }
        }
        if (p < iend && *p == '/') {
            p++;
            const char *num = p;
            if (!parse_value(&p, iend, &specs[0], &step) || p == num || step <= 0)
                goto bad;
            /* "N/S" means "N-max/S". */
            if (item[0] != '*' && !memchr(item, '-', (size_t)(iend - item)))
                hi = f->hi;
        }
        if (p != iend)
            goto bad;
        if (lo < f->lo || hi > f->hi || lo > hi)
            return errbuf_set(eb, RC_INVALID, "cron: %s value out of range %d-%d in \"%.*s\"",
                              f->what, f->lo, f->hi, (int)(iend - item), item);
        for (int v = lo; v <= hi; v += step)
            *bits |= UINT64_C(1) << v;
        if (!comma)
            break;
        item = comma + 1;
    }
    return RC_OK;
bad:
    return errbuf_set(eb, RC_INVALID, "cron: bad %s field \"%.*s\"", f->what, (int)(end - s), s);
}

static const char *expand_macro(const char *text)
{
    static const struct {
        const char *name, *expr;
    } macros[] = {
        {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
        {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
        {"@hourly", "0 * * * *"},
    };
    for (size_t i = 0; i < sizeof(macros) / sizeof(macros[0]); i++)
        if (strcasecmp(text, macros[i].name) == 0)
            return macros[i].expr;
    return text;
}

int cron_parse(const char *text, struct cron_expr *out, struct errbuf *eb)
{
    if (!text)
        return errbuf_set(eb, RC_INVALID, "cron: empty expression");
    while (*text == ' ' || *text == '\t')
        text++;
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", text);
    size_t bl = strlen(buf);
    while (bl && (buf[bl - 1] == ' ' || buf[bl - 1] == '\t'))
        buf[--bl] = '\0';
    const char *s = expand_macro(buf);
    const char *fs[5], *fe[5];
    size_t n = 0;
    const char *p = s;
    while (*p) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        if (n == 5)
            return errbuf_set(eb, RC_INVALID, "cron: \"%.100s\" has more than 5 fields", text);
        fs[n] = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        fe[n++] = p;
    }
    if (n != 5)
        return errbuf_set(eb, RC_INVALID,
                          "cron: \"%.100s\" must have 5 fields (minute hour day month weekday)",
                          text);
    struct cron_expr c = {0};
    uint64_t bits[5];
    bool star[5];
    for (size_t i = 0; i < 5; i++) {
        int rc = parse_field(fs[i], fe[i], &specs[i], &bits[i], &star[i], eb);
        if (rc != RC_OK)
            return rc;
    }
    c.minutes = bits[0];
    c.hours = (uint32_t)bits[1];
    c.mdays = (uint32_t)bits[2];
    c.months = (uint16_t)bits[3];
    /* 7 is Sunday too. */
    c.wdays = (uint8_t)((bits[4] & 0x7f) | ((bits[4] >> 7) & 1));
    c.mday_star = star[2];
    c.wday_star = star[4];
    *out = c;
    return RC_OK;
}

static bool day_matches(const struct cron_expr *c, const struct civil_time *ct, int64_t day_start)
{
    if (!(c->months & (1u << ct->month)))
        return false;
    /* 1970-01-01 was a Thursday (4). */
    int64_t days = day_start / US_PER_DAY;
    int wday = (int)(((days % 7) + 7 + 4) % 7);
    bool md = (c->mdays >> ct->day) & 1;
    bool wd = (c->wdays >> wday) & 1;
    if (!c->mday_star && !c->wday_star)
        return md || wd;
    return md && wd;
}

int64_t cron_next(const struct cron_expr *c, int64_t after_us)
{
    int64_t US_PER_MIN = 60 * US_PER_SEC;
    /* Start at the next whole minute strictly after after_us. */
    int64_t t = after_us - (((after_us % US_PER_MIN) + US_PER_MIN) % US_PER_MIN) + US_PER_MIN;
    /* Every day-of-month/month/weekday combination repeats within 28 years
     * (the Gregorian weekday cycle is 400 years, but Feb 29 on a given weekday
     * needs at most 28 between leap years; 5 leap-weekday cycles covers the
     * rare century gaps). Days are skipped whole, so this is at most ~51k
     * iterations for an expression that never matches (e.g. "0 0 30 2 *"). */
    int64_t limit = t + 140 * 366 * US_PER_DAY;
    while (t < limit) {
        int64_t day = time_floor_day(t);
        struct civil_time ct;
        time_to_civil(t, &ct);
        if (!day_matches(c, &ct, day)) {
            t = day + US_PER_DAY;
            continue;
        }
        if (!((c->hours >> ct.hour) & 1)) {
            t = time_floor_hour(t) + US_PER_HOUR;
            continue;
        }
        if (!((c->minutes >> ct.minute) & 1)) {
            t += US_PER_MIN;
            continue;
        }
        return t;
    }
    return INT64_MAX;
}
