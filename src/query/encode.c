/*
 * query/encode.c — the encoder object (see encode.h), the prepared type tree
 * and the value renderers shared by the JSON, CSV and Arrow encoders.
 *
 * Values are read straight from DuckDB's flat vectors (data chunks fetched
 * from a result are flat, children included): fixed-width values from
 * duckdb_vector_get_data, strings from string_t, lists through
 * duckdb_list_entry + the child vector, structs/unions/maps through their
 * child vectors. Nothing here calls DuckDB's type API per value: the
 * qenc_tinfo tree caches it at qenc_begin.
 *
 * Threads: whatever thread owns the encoder (see encode.h).
 */
#include "query/encode.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/encode_internal.h"
#include "util/jsonw.h"
#include "util/mem.h"
#include "util/timeutil.h"

/* ---- type tree ------------------------------------------------------ */

static char *dup_duck_string(char *s)
{
    /* DuckDB allocates names with its own allocator: copy into ours. */
    char *r = xstrdup(s ? s : "");
    if (s)
        duckdb_free(s);
    return r;
}

static struct qenc_tinfo *tinfo_owned(duckdb_logical_type t)
{
    struct qenc_tinfo *ti = qenc__tinfo_new(t);
    ti->owned = true;
    return ti;
}

struct qenc_tinfo *qenc__tinfo_new(duckdb_logical_type t)
{
    struct qenc_tinfo *ti = xcalloc(1, sizeof(*ti));
    ti->lt = t;
    ti->id = duckdb_get_type_id(t);
    switch (ti->id) {
    case DUCKDB_TYPE_DECIMAL:
        ti->dec_scale = duckdb_decimal_scale(t);
        ti->dec_width = duckdb_decimal_width(t);
        ti->dec_internal = duckdb_decimal_internal_type(t);
        break;
    case DUCKDB_TYPE_ENUM:
        ti->enum_internal = duckdb_enum_internal_type(t);
        ti->enum_count = duckdb_enum_dictionary_size(t);
        ti->enum_values = xcalloc(ti->enum_count ? ti->enum_count : 1, sizeof(char *));
        for (uint32_t i = 0; i < ti->enum_count; i++)
            ti->enum_values[i] = dup_duck_string(duckdb_enum_dictionary_value(t, i));
        break;
    case DUCKDB_TYPE_LIST:
        ti->nchild = 1;
        ti->child = xcalloc(1, sizeof(*ti->child));
        ti->child[0] = tinfo_owned(duckdb_list_type_child_type(t));
        break;
    case DUCKDB_TYPE_ARRAY:
        ti->nchild = 1;
        ti->child = xcalloc(1, sizeof(*ti->child));
        ti->child[0] = tinfo_owned(duckdb_array_type_child_type(t));
        ti->array_size = duckdb_array_type_array_size(t);
        break;
    case DUCKDB_TYPE_MAP:
        ti->nchild = 2;
        ti->child = xcalloc(2, sizeof(*ti->child));
        ti->child[0] = tinfo_owned(duckdb_map_type_key_type(t));
        ti->child[1] = tinfo_owned(duckdb_map_type_value_type(t));
        ti->map_string_keys = ti->child[0]->id == DUCKDB_TYPE_VARCHAR;
        break;
    case DUCKDB_TYPE_STRUCT:
        ti->nchild = duckdb_struct_type_child_count(t);
        ti->child = xcalloc(ti->nchild ? ti->nchild : 1, sizeof(*ti->child));
        ti->child_names = xcalloc(ti->nchild ? ti->nchild : 1, sizeof(char *));
        for (idx_t i = 0; i < ti->nchild; i++) {
            ti->child[i] = tinfo_owned(duckdb_struct_type_child_type(t, i));
            ti->child_names[i] = dup_duck_string(duckdb_struct_type_child_name(t, i));
        }
        break;
    case DUCKDB_TYPE_UNION:
        ti->nchild = duckdb_union_type_member_count(t);
        ti->child = xcalloc(ti->nchild ? ti->nchild : 1, sizeof(*ti->child));
        ti->child_names = xcalloc(ti->nchild ? ti->nchild : 1, sizeof(char *));
        for (idx_t i = 0; i < ti->nchild; i++) {
            ti->child[i] = tinfo_owned(duckdb_union_type_member_type(t, i));
            ti->child_names[i] = dup_duck_string(duckdb_union_type_member_name(t, i));
        }
        break;
    default: break;
    }
    return ti;
}

void qenc__tinfo_free(struct qenc_tinfo **tip)
{
    struct qenc_tinfo *ti = tip ? *tip : NULL;
    if (!ti)
        return;
    for (idx_t i = 0; i < ti->nchild; i++) {
        qenc__tinfo_free(&ti->child[i]);
        if (ti->child_names)
            xfree(ti->child_names[i]);
    }
    xfree(ti->child);
    xfree(ti->child_names);
    for (uint32_t i = 0; i < ti->enum_count; i++)
        xfree(ti->enum_values[i]);
    xfree(ti->enum_values);
    if (ti->owned)
        duckdb_destroy_logical_type(&ti->lt);
    xfree(ti);
    *tip = NULL;
}

/* ---- formatters ----------------------------------------------------- */

/* Days since 1970-01-01 -> proleptic Gregorian date (Howard Hinnant's
 * civil_from_days), valid far beyond DuckDB's range. */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* ISO 8601 year: 4 digits for 0000..9999, else signed (astronomical
 * numbering: 1 BC is year 0). */
static size_t fmt_year(char *buf, int64_t y)
{
    if (y >= 0 && y <= 9999)
        return (size_t)snprintf(buf, 16, "%04lld", (long long)y);
    return (size_t)snprintf(buf, 24, "%+05lld", (long long)y);
}

/* Appends ".fff" with trailing zeros trimmed (nothing when frac == 0).
 * frac is in units of 10^-digits seconds. */
static size_t fmt_frac(char *buf, int64_t frac, int digits)
{
    if (frac == 0)
        return 0;
    char tmp[32];
    snprintf(tmp, sizeof(tmp), "%0*lld", digits & 15, (long long)frac);
    int n = digits;
    while (n > 0 && tmp[n - 1] == '0')
        n--;
    buf[0] = '.';
    memcpy(buf + 1, tmp, (size_t)n);
    return (size_t)n + 1;
}

static int digits_of(int64_t units_per_sec)
{
    int d = 0;
    while (units_per_sec > 1) {
        units_per_sec /= 10;
        d++;
    }
    return d;
}

static char *put2(char *p, int v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
    return p + 2;
}

size_t qenc__fmt_timestamp(char *buf, int64_t value, int64_t units_per_sec)
{
    /* DuckDB's infinities are INT64_MAX and -INT64_MAX. */
    if (value == INT64_MAX)
        return (size_t)snprintf(buf, QENC_FMT_MAX, "infinity");
    if (value == -INT64_MAX || value == INT64_MIN)
        return (size_t)snprintf(buf, QENC_FMT_MAX, "-infinity");
    int64_t secs = value / units_per_sec, frac = value % units_per_sec;
    if (frac < 0) {
        frac += units_per_sec;
        secs--;
    }
    int64_t days = secs / 86400, sod = secs % 86400;
    if (sod < 0) {
        sod += 86400;
        days--;
    }
    int64_t y;
    int mo, d;
    civil_from_days(days, &y, &mo, &d);
    /* Hand-rolled digits: this runs once per timestamp value of a result
     * and snprintf dominated the JSON encoder's time. */
    char *p = buf;
    if (y >= 0 && y <= 9999) {
        p = put2(p, (int)(y / 100));
        p = put2(p, (int)(y % 100));
    } else {
        p += fmt_year(p, y);
    }
    *p++ = '-';
    p = put2(p, mo);
    *p++ = '-';
    p = put2(p, d);
    *p++ = 'T';
    p = put2(p, (int)(sod / 3600));
    *p++ = ':';
    p = put2(p, (int)(sod / 60 % 60));
    *p++ = ':';
    p = put2(p, (int)(sod % 60));
    if (frac) {
        int digits = digits_of(units_per_sec);
        char tmp[16];
        for (int i = digits - 1; i >= 0; i--) {
            tmp[i] = (char)('0' + frac % 10);
            frac /= 10;
        }
        while (digits > 0 && tmp[digits - 1] == '0')
            digits--;
        *p++ = '.';
        memcpy(p, tmp, (size_t)digits);
        p += digits;
    }
    *p++ = 'Z';
    *p = '\0';
    return (size_t)(p - buf);
}

size_t qenc__fmt_date(char *buf, int32_t days)
{
    if (days == INT32_MAX)
        return (size_t)snprintf(buf, QENC_FMT_MAX, "infinity");
    if (days == -INT32_MAX || days == INT32_MIN)
        return (size_t)snprintf(buf, QENC_FMT_MAX, "-infinity");
    int64_t y;
    int mo, d;
    civil_from_days(days, &y, &mo, &d);
    size_t n = fmt_year(buf, y);
    n += (size_t)snprintf(buf + n, QENC_FMT_MAX - n, "-%02d-%02d", mo, d);
    return n;
}

/* "HH:MM:SS[.frac]" of a non-negative duration; hours may exceed 23 (and
 * use more digits) for intervals. */
static size_t fmt_hms(char *buf, uint64_t value, uint64_t units_per_sec)
{
    uint64_t secs = value / units_per_sec, frac = value % units_per_sec;
    size_t n = (size_t)snprintf(
        buf, QENC_FMT_MAX, "%02llu:%02llu:%02llu", (unsigned long long)(secs / 3600),
        (unsigned long long)(secs / 60 % 60), (unsigned long long)(secs % 60));
    n += fmt_frac(buf + n, (int64_t)frac, digits_of((int64_t)units_per_sec));
    buf[n] = '\0';
    return n;
}

size_t qenc__fmt_time(char *buf, int64_t value, int64_t units_per_sec)
{
    if (value < 0)
        value = 0;
    return fmt_hms(buf, (uint64_t)value, (uint64_t)units_per_sec);
}

/* DuckDB's IntervalToStringCast: "1 year 2 months 3 days 04:05:06.789",
 * "-1 day", "00:00:00" for zero; singular only for 1 and -1. */
size_t qenc__fmt_interval(char *buf, const duckdb_interval *iv)
{
    size_t n = 0;
    int32_t years = iv->months / 12, months = iv->months - years * 12;
    const struct {
        int32_t v;
        const char *unit;
    } parts[] = {{years, "year"}, {months, "month"}, {iv->days, "day"}};
    for (size_t i = 0; i < 3; i++) {
        if (parts[i].v == 0)
            continue;
        n += (size_t)snprintf(buf + n, QENC_FMT_MAX - n, "%s%d %s%s", n ? " " : "", parts[i].v,
                              parts[i].unit, parts[i].v == 1 || parts[i].v == -1 ? "" : "s");
    }
    if (iv->micros != 0) {
        if (n)
            buf[n++] = ' ';
        uint64_t mag = (uint64_t)iv->micros;
        if (iv->micros < 0) {
            buf[n++] = '-';
            mag = 0 - mag; /* also right for INT64_MIN */
        }
        n += fmt_hms(buf + n, mag, 1000000);
    } else if (n == 0) {
        n = (size_t)snprintf(buf, QENC_FMT_MAX, "00:00:00");
    }
    buf[n] = '\0';
    return n;
}

/* Writes the decimal digits of m (>= 0). */
static size_t put_u64(char *buf, uint64_t m)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + m % 10);
        m /= 10;
    } while (m);
    for (size_t i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    buf[n] = '\0';
    return n;
}

static size_t fmt_i64(char *buf, int64_t v)
{
    if (v < 0) {
        buf[0] = '-';
        return 1 + put_u64(buf + 1, 0 - (uint64_t)v);
    }
    return put_u64(buf, (uint64_t)v);
}

size_t qenc__fmt_double(char *buf, double v)
{
    if (!isfinite(v)) {
        buf[0] = '\0';
        return 0;
    }
    /* Fast path for the common "few decimals" values (1.5, 93.25, 42):
     * the smallest k <= 6 with v == m / 10^k for an integer |m| < 10^15.
     * m and 10^k are exact doubles, so the division is correctly rounded,
     * exactly like strtod of the decimal text "m / 10^k": the check proves
     * the text round-trips, and the smallest k gives the shortest text. */
    static const double p10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6};
    if (v != 0 && fabs(v) < 1e15) {
        for (int k = 0; k <= 6; k++) {
            double m = v * p10[k];
            if (fabs(m) >= 1e15)
                break;
            int64_t mi = (int64_t)m;
            if ((double)mi != m || (double)mi / p10[k] != v)
                continue;
            char *p = buf;
            uint64_t mag = mi < 0 ? (uint64_t)(-mi) : (uint64_t)mi;
            if (mi < 0)
                *p++ = '-';
            char digits[24];
            size_t nd = put_u64(digits, mag);
            if ((size_t)k >= nd) {
                *p++ = '0';
                *p++ = '.';
                for (size_t z = nd; z < (size_t)k; z++)
                    *p++ = '0';
                memcpy(p, digits, nd);
                p += nd;
            } else {
                memcpy(p, digits, nd - (size_t)k);
                p += nd - (size_t)k;
                if (k) {
                    *p++ = '.';
                    memcpy(p, digits + nd - (size_t)k, (size_t)k);
                    p += k;
                }
            }
            *p = '\0';
            return (size_t)(p - buf);
        }
    }
    /* Shortest of %.15g..%.17g that reads back as the same double. */
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(buf, QENC_FMT_MAX, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    return (size_t)n;
}

size_t qenc__fmt_float(char *buf, float v)
{
    if (!isfinite(v)) {
        buf[0] = '\0';
        return 0;
    }
    int n = 0;
    for (int prec = 6; prec <= 9; prec++) {
        n = snprintf(buf, QENC_FMT_MAX, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v)
            break;
    }
    return (size_t)n;
}

size_t qenc__fmt_u128(char *buf, unsigned __int128 v)
{
    char tmp[48];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + (int)(v % 10));
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    buf[n] = '\0';
    return n;
}

size_t qenc__fmt_i128(char *buf, __int128 v)
{
    if (v < 0) {
        buf[0] = '-';
        return 1 + qenc__fmt_u128(buf + 1, (unsigned __int128)0 - (unsigned __int128)v);
    }
    return qenc__fmt_u128(buf, (unsigned __int128)v);
}

size_t qenc__fmt_decimal(char *buf, __int128 v, unsigned scale)
{
    size_t n = 0;
    unsigned __int128 mag = (unsigned __int128)v;
    if (v < 0) {
        buf[n++] = '-';
        mag = 0 - mag;
    }
    char digits[48];
    size_t nd = qenc__fmt_u128(digits, mag);
    if (scale == 0) {
        memcpy(buf + n, digits, nd + 1);
        return n + nd;
    }
    /* Pad to at least scale + 1 digits: 5 with scale 2 is "0.05". */
    char padded[96];
    size_t np = 0;
    while (nd + np < scale + 1)
        padded[np++] = '0';
    memcpy(padded + np, digits, nd);
    np += nd;
    size_t ip = np - scale;
    memcpy(buf + n, padded, ip);
    n += ip;
    buf[n++] = '.';
    memcpy(buf + n, padded + ip, scale);
    n += scale;
    buf[n] = '\0';
    return n;
}

int qenc__append_base64(struct strbuf *sb, const unsigned char *p, size_t n)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    int rc = strbuf_reserve(sb, (n + 2) / 3 * 4);
    if (rc)
        return rc;
    char *o = sb->data + sb->len;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t x = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *o++ = tbl[x >> 18];
        *o++ = tbl[(x >> 12) & 63];
        *o++ = tbl[(x >> 6) & 63];
        *o++ = tbl[x & 63];
    }
    if (i < n) {
        uint32_t x = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
        *o++ = tbl[x >> 18];
        *o++ = tbl[(x >> 12) & 63];
        *o++ = i + 1 < n ? tbl[(x >> 6) & 63] : '=';
        *o++ = '=';
    }
    sb->len = (size_t)(o - sb->data);
    sb->data[sb->len] = '\0';
    return RC_OK;
}

/* UUID: a HUGEINT whose top bit is flipped (so that it sorts), printed as
 * 8-4-4-4-12 hex digits of the 128 bits. */
static size_t fmt_uuid(char *buf, const duckdb_hugeint *h)
{
    uint64_t hi = (uint64_t)h->upper ^ (UINT64_C(1) << 63), lo = h->lower;
    return (size_t)snprintf(
        buf, QENC_FMT_MAX, "%08llx-%04llx-%04llx-%04llx-%012llx", (unsigned long long)(hi >> 32),
        (unsigned long long)((hi >> 16) & 0xffff), (unsigned long long)(hi & 0xffff),
        (unsigned long long)(lo >> 48), (unsigned long long)(lo & 0xffffffffffffULL));
}

/* TIME WITH TIME ZONE as DuckDB prints it: "01:02:03.25+02:30", "-08". */
static size_t fmt_time_tz(char *buf, duckdb_time_tz v)
{
    duckdb_time_tz_struct s = duckdb_from_time_tz(v);
    int64_t us =
        ((int64_t)s.time.hour * 3600 + s.time.min * 60 + s.time.sec) * 1000000 + s.time.micros;
    size_t n = qenc__fmt_time(buf, us, 1000000);
    int32_t off = s.offset;
    char sign = off < 0 ? '-' : '+';
    if (off < 0)
        off = -off;
    int oh = off / 3600, om = off / 60 % 60, os = off % 60;
    n += (size_t)snprintf(buf + n, QENC_FMT_MAX - n, "%c%02d", sign, oh);
    if (om || os)
        n += (size_t)snprintf(buf + n, QENC_FMT_MAX - n, ":%02d", om);
    if (os)
        n += (size_t)snprintf(buf + n, QENC_FMT_MAX - n, ":%02d", os);
    return n;
}

/* BIT: first byte = number of padding bits in the second byte, then the
 * bits most significant first. */
static int append_bits(struct strbuf *sb, const unsigned char *p, uint32_t len)
{
    if (len < 1)
        return RC_OK;
    unsigned pad = p[0];
    size_t nbits = (size_t)(len - 1) * 8;
    int rc = strbuf_reserve(sb, nbits);
    if (rc)
        return rc;
    for (size_t i = pad; i < nbits; i++)
        sb->data[sb->len++] = (p[1 + i / 8] >> (7 - i % 8)) & 1 ? '1' : '0';
    sb->data[sb->len] = '\0';
    return RC_OK;
}

/* BIGNUM (VARINT): 3 header bytes (top bit set for non-negative, the rest
 * the byte count), then the big-endian magnitude; negative values have
 * every byte inverted. Printed in decimal by repeated division. */
static int append_bignum(struct strbuf *sb, const unsigned char *p, uint32_t len)
{
    if (len < 4)
        return strbuf_putc(sb, '0');
    bool neg = !(p[0] & 0x80);
    size_t nb = len - 3;
    unsigned char *mag = xmalloc(nb);
    for (size_t i = 0; i < nb; i++)
        mag[i] = neg ? (unsigned char)~p[3 + i] : p[3 + i];
    char *digits = xmalloc(nb * 3 + 2);
    size_t nd = 0, start = 0;
    while (start < nb) {
        unsigned rem = 0;
        for (size_t i = start; i < nb; i++) {
            unsigned cur = rem * 256 + mag[i];
            mag[i] = (unsigned char)(cur / 10);
            rem = cur % 10;
        }
        digits[nd++] = (char)('0' + rem);
        while (start < nb && mag[start] == 0)
            start++;
    }
    if (nd == 0)
        digits[nd++] = '0';
    int rc = RC_OK;
    if (neg && !(nd == 1 && digits[0] == '0'))
        rc = strbuf_putc(sb, '-');
    for (size_t i = 0; i < nd && rc == RC_OK; i++)
        rc = strbuf_putc(sb, digits[nd - 1 - i]);
    xfree(digits);
    xfree(mag);
    return rc;
}

static __int128 decimal_raw(const struct qenc_tinfo *ti, const void *data, idx_t row)
{
    switch (ti->dec_internal) {
    case DUCKDB_TYPE_SMALLINT: return ((const int16_t *)data)[row];
    case DUCKDB_TYPE_INTEGER: return ((const int32_t *)data)[row];
    case DUCKDB_TYPE_BIGINT: return ((const int64_t *)data)[row];
    default: {
        const duckdb_hugeint *h = &((const duckdb_hugeint *)data)[row];
        return (__int128)((unsigned __int128)(uint64_t)h->upper << 64 | h->lower);
    }
    }
}

static uint64_t enum_index(const struct qenc_tinfo *ti, const void *data, idx_t row)
{
    switch (ti->enum_internal) {
    case DUCKDB_TYPE_UTINYINT: return ((const uint8_t *)data)[row];
    case DUCKDB_TYPE_USMALLINT: return ((const uint16_t *)data)[row];
    default: return ((const uint32_t *)data)[row];
    }
}

/* Renders a scalar that needs no quoting in JSON (numbers, booleans) into
 * buf. Returns the length, 0 for "null" (NaN/Inf), or -1 if the type is not
 * such a scalar. */
static long bare_scalar(char *buf, const struct qenc_tinfo *ti, const void *data, idx_t row)
{
    switch (ti->id) {
    case DUCKDB_TYPE_BOOLEAN:
        return snprintf(buf, QENC_FMT_MAX, "%s", ((const bool *)data)[row] ? "true" : "false");
    case DUCKDB_TYPE_TINYINT: return (long)fmt_i64(buf, ((const int8_t *)data)[row]);
    case DUCKDB_TYPE_SMALLINT: return (long)fmt_i64(buf, ((const int16_t *)data)[row]);
    case DUCKDB_TYPE_INTEGER: return (long)fmt_i64(buf, ((const int32_t *)data)[row]);
    case DUCKDB_TYPE_BIGINT: return (long)fmt_i64(buf, ((const int64_t *)data)[row]);
    case DUCKDB_TYPE_UTINYINT: return (long)put_u64(buf, ((const uint8_t *)data)[row]);
    case DUCKDB_TYPE_USMALLINT: return (long)put_u64(buf, ((const uint16_t *)data)[row]);
    case DUCKDB_TYPE_UINTEGER: return (long)put_u64(buf, ((const uint32_t *)data)[row]);
    case DUCKDB_TYPE_UBIGINT: return (long)put_u64(buf, ((const uint64_t *)data)[row]);
    case DUCKDB_TYPE_HUGEINT: {
        const duckdb_hugeint *h = &((const duckdb_hugeint *)data)[row];
        return (long)qenc__fmt_i128(
            buf, (__int128)((unsigned __int128)(uint64_t)h->upper << 64 | h->lower));
    }
    case DUCKDB_TYPE_UHUGEINT: {
        const duckdb_uhugeint *h = &((const duckdb_uhugeint *)data)[row];
        return (long)qenc__fmt_u128(buf, (unsigned __int128)h->upper << 64 | h->lower);
    }
    case DUCKDB_TYPE_FLOAT: return (long)qenc__fmt_float(buf, ((const float *)data)[row]);
    case DUCKDB_TYPE_DOUBLE: return (long)qenc__fmt_double(buf, ((const double *)data)[row]);
    case DUCKDB_TYPE_DECIMAL:
        return (long)qenc__fmt_decimal(buf, decimal_raw(ti, data, row), ti->dec_scale);
    default: return -1;
    }
}

/* Renders a scalar that is a string in JSON but needs no escaping (times,
 * dates, intervals, UUIDs). Returns the length or -1 if not such a type. */
static long plain_string_scalar(char *buf, const struct qenc_tinfo *ti, const void *data, idx_t row)
{
    switch (ti->id) {
    case DUCKDB_TYPE_TIMESTAMP:
    case DUCKDB_TYPE_TIMESTAMP_TZ:
        return (long)qenc__fmt_timestamp(buf, ((const int64_t *)data)[row], 1000000);
    case DUCKDB_TYPE_TIMESTAMP_S:
        return (long)qenc__fmt_timestamp(buf, ((const int64_t *)data)[row], 1);
    case DUCKDB_TYPE_TIMESTAMP_MS:
        return (long)qenc__fmt_timestamp(buf, ((const int64_t *)data)[row], 1000);
    case DUCKDB_TYPE_TIMESTAMP_NS:
        return (long)qenc__fmt_timestamp(buf, ((const int64_t *)data)[row], 1000000000);
    case DUCKDB_TYPE_DATE: return (long)qenc__fmt_date(buf, ((const int32_t *)data)[row]);
    case DUCKDB_TYPE_TIME: return (long)qenc__fmt_time(buf, ((const int64_t *)data)[row], 1000000);
    case DUCKDB_TYPE_TIME_NS:
        return (long)qenc__fmt_time(buf, ((const int64_t *)data)[row], 1000000000);
    case DUCKDB_TYPE_TIME_TZ: return (long)fmt_time_tz(buf, ((const duckdb_time_tz *)data)[row]);
    case DUCKDB_TYPE_INTERVAL:
        return (long)qenc__fmt_interval(buf, &((const duckdb_interval *)data)[row]);
    case DUCKDB_TYPE_UUID: return (long)fmt_uuid(buf, &((const duckdb_hugeint *)data)[row]);
    default: return -1;
    }
}

static int json_nested(struct strbuf *sb, const struct qenc_tinfo *ti, duckdb_vector v, idx_t row);

int qenc__json_value(struct strbuf *sb, const struct qenc_tinfo *ti, duckdb_vector v, idx_t row)
{
    const uint64_t *validity = duckdb_vector_get_validity(v);
    if (!qenc__valid(validity, row) || ti->id == DUCKDB_TYPE_SQLNULL)
        return strbuf_append(sb, "null", 4);
    const void *data = duckdb_vector_get_data(v);
    char buf[QENC_FMT_MAX];
    long n = bare_scalar(buf, ti, data, row);
    if (n == 0)
        return strbuf_append(sb, "null", 4);
    if (n > 0)
        return strbuf_append(sb, buf, (size_t)n);
    n = plain_string_scalar(buf, ti, data, row);
    if (n >= 0) {
        int rc = strbuf_reserve(sb, (size_t)n + 2);
        if (rc)
            return rc;
        sb->data[sb->len++] = '"';
        memcpy(sb->data + sb->len, buf, (size_t)n);
        sb->len += (size_t)n;
        sb->data[sb->len++] = '"';
        sb->data[sb->len] = '\0';
        return RC_OK;
    }
    switch (ti->id) {
    case DUCKDB_TYPE_VARCHAR: {
        uint32_t len;
        const char *s = qenc__str(&((const duckdb_string_t *)data)[row], &len);
        return json_append_string(sb, s, len);
    }
    case DUCKDB_TYPE_BLOB: {
        uint32_t len;
        const char *s = qenc__str(&((const duckdb_string_t *)data)[row], &len);
        int rc = strbuf_putc(sb, '"');
        if (!rc)
            rc = qenc__append_base64(sb, (const unsigned char *)s, len);
        return rc ? rc : strbuf_putc(sb, '"');
    }
    case DUCKDB_TYPE_BIT: {
        uint32_t len;
        const char *s = qenc__str(&((const duckdb_string_t *)data)[row], &len);
        int rc = strbuf_putc(sb, '"');
        if (!rc)
            rc = append_bits(sb, (const unsigned char *)s, len);
        return rc ? rc : strbuf_putc(sb, '"');
    }
    case DUCKDB_TYPE_BIGNUM: {
        uint32_t len;
        const char *s = qenc__str(&((const duckdb_string_t *)data)[row], &len);
        return append_bignum(sb, (const unsigned char *)s, len);
    }
    case DUCKDB_TYPE_ENUM: {
        uint64_t i = enum_index(ti, data, row);
        if (i >= ti->enum_count)
            return strbuf_append(sb, "null", 4);
        return json_append_string(sb, ti->enum_values[i], strlen(ti->enum_values[i]));
    }
    default: return json_nested(sb, ti, v, row);
    }
}

static int json_nested(struct strbuf *sb, const struct qenc_tinfo *ti, duckdb_vector v, idx_t row)
{
    int rc = RC_OK;
    switch (ti->id) {
    case DUCKDB_TYPE_LIST: {
        const duckdb_list_entry *e = &((const duckdb_list_entry *)duckdb_vector_get_data(v))[row];
        duckdb_vector child = duckdb_list_vector_get_child(v);
        rc = strbuf_putc(sb, '[');
        for (uint64_t i = 0; i < e->length && !rc; i++) {
            if (i)
                rc = strbuf_putc(sb, ',');
            if (!rc)
                rc = qenc__json_value(sb, ti->child[0], child, e->offset + i);
        }
        return rc ? rc : strbuf_putc(sb, ']');
    }
    case DUCKDB_TYPE_ARRAY: {
        duckdb_vector child = duckdb_array_vector_get_child(v);
        rc = strbuf_putc(sb, '[');
        for (idx_t i = 0; i < ti->array_size && !rc; i++) {
            if (i)
                rc = strbuf_putc(sb, ',');
            if (!rc)
                rc = qenc__json_value(sb, ti->child[0], child, row * ti->array_size + i);
        }
        return rc ? rc : strbuf_putc(sb, ']');
    }
    case DUCKDB_TYPE_STRUCT: {
        rc = strbuf_putc(sb, '{');
        for (idx_t i = 0; i < ti->nchild && !rc; i++) {
            if (i)
                rc = strbuf_putc(sb, ',');
            if (!rc)
                rc = json_append_string(sb, ti->child_names[i], strlen(ti->child_names[i]));
            if (!rc)
                rc = strbuf_putc(sb, ':');
            if (!rc)
                rc = qenc__json_value(sb, ti->child[i], duckdb_struct_vector_get_child(v, i), row);
        }
        return rc ? rc : strbuf_putc(sb, '}');
    }
    case DUCKDB_TYPE_MAP: {
        const duckdb_list_entry *e = &((const duckdb_list_entry *)duckdb_vector_get_data(v))[row];
        duckdb_vector entries = duckdb_list_vector_get_child(v);
        duckdb_vector keys = duckdb_struct_vector_get_child(entries, 0);
        duckdb_vector vals = duckdb_struct_vector_get_child(entries, 1);
        rc = strbuf_putc(sb, ti->map_string_keys ? '{' : '[');
        for (uint64_t i = 0; i < e->length && !rc; i++) {
            idx_t r = e->offset + i;
            if (i)
                rc = strbuf_putc(sb, ',');
            if (ti->map_string_keys) {
                /* Map keys are never NULL in DuckDB; render one as "" if it is. */
                if (!rc && !qenc__valid(duckdb_vector_get_validity(keys), r))
                    rc = strbuf_append(sb, "\"\"", 2);
                else if (!rc)
                    rc = qenc__json_value(sb, ti->child[0], keys, r);
                if (!rc)
                    rc = strbuf_putc(sb, ':');
            } else {
                if (!rc)
                    rc = strbuf_puts(sb, "{\"key\":");
                if (!rc)
                    rc = qenc__json_value(sb, ti->child[0], keys, r);
                if (!rc)
                    rc = strbuf_puts(sb, ",\"value\":");
            }
            if (!rc)
                rc = qenc__json_value(sb, ti->child[1], vals, r);
            if (!rc && !ti->map_string_keys)
                rc = strbuf_putc(sb, '}');
        }
        return rc ? rc : strbuf_putc(sb, ti->map_string_keys ? '}' : ']');
    }
    case DUCKDB_TYPE_UNION: {
        /* A union vector is a struct vector: child 0 holds the tag, child
         * i+1 member i. The value is the active member's. */
        duckdb_vector tags = duckdb_struct_vector_get_child(v, 0);
        uint8_t tag = ((const uint8_t *)duckdb_vector_get_data(tags))[row];
        if (tag >= ti->nchild)
            return strbuf_append(sb, "null", 4);
        return qenc__json_value(sb, ti->child[tag], duckdb_struct_vector_get_child(v, tag + 1),
                                row);
    }
    default:
        /* INVALID, ANY and literal pseudo-types never reach a result. */
        return strbuf_append(sb, "null", 4);
    }
}

int qenc__text_value(struct strbuf *sb, const struct qenc_tinfo *ti, duckdb_vector v, idx_t row,
                     bool *is_null)
{
    *is_null = false;
    const uint64_t *validity = duckdb_vector_get_validity(v);
    if (!qenc__valid(validity, row) || ti->id == DUCKDB_TYPE_SQLNULL) {
        *is_null = true;
        return RC_OK;
    }
    const void *data = duckdb_vector_get_data(v);
    char buf[QENC_FMT_MAX];
    long n = bare_scalar(buf, ti, data, row);
    if (n == 0) {
        *is_null = true; /* NaN / Inf, as in JSON */
        return RC_OK;
    }
    if (n < 0)
        n = plain_string_scalar(buf, ti, data, row);
    if (n > 0)
        return strbuf_append(sb, buf, (size_t)n);
    uint32_t len;
    switch (ti->id) {
    case DUCKDB_TYPE_VARCHAR: {
        const char *s = qenc__str(&((const duckdb_string_t *)data)[row], &len);
        return strbuf_append(sb, s, len);
    }
    case DUCKDB_TYPE_BLOB: {
        const char *s = qenc__str(&((const duckdb_string_t *)data)[row], &len);
        return qenc__append_base64(sb, (const unsigned char *)s, len);
    }
    case DUCKDB_TYPE_BIT: {
        const char *s = qenc__str(&((const duckdb_string_t *)data)[row], &len);
        return append_bits(sb, (const unsigned char *)s, len);
    }
    case DUCKDB_TYPE_BIGNUM: {
        const char *s = qenc__str(&((const duckdb_string_t *)data)[row], &len);
        return append_bignum(sb, (const unsigned char *)s, len);
    }
    case DUCKDB_TYPE_ENUM: {
        uint64_t i = enum_index(ti, data, row);
        if (i >= ti->enum_count) {
            *is_null = true;
            return RC_OK;
        }
        return strbuf_puts(sb, ti->enum_values[i]);
    }
    case DUCKDB_TYPE_UNION: {
        duckdb_vector tags = duckdb_struct_vector_get_child(v, 0);
        uint8_t tag = ((const uint8_t *)duckdb_vector_get_data(tags))[row];
        if (tag >= ti->nchild) {
            *is_null = true;
            return RC_OK;
        }
        return qenc__text_value(sb, ti->child[tag], duckdb_struct_vector_get_child(v, tag + 1), row,
                                is_null);
    }
    default:
        /* LIST, ARRAY, STRUCT, MAP: their JSON text. */
        return qenc__json_value(sb, ti, v, row);
    }
}

int qenc_value_json(struct strbuf *out, duckdb_vector v, duckdb_logical_type t, idx_t row)
{
    struct qenc_tinfo *ti = qenc__tinfo_new(t);
    int rc = qenc__json_value(out, ti, v, row);
    qenc__tinfo_free(&ti);
    return rc;
}

/* ---- JSON envelope helpers ------------------------------------------- */

int qenc_json_tail(struct strbuf *out, double execution_time_ms, int64_t timestamp_us,
                   double cache_age_s)
{
    char ts[64];
    time_format_rfc3339_us(timestamp_us, ts, sizeof(ts));
    if (!isfinite(execution_time_ms) || execution_time_ms < 0)
        execution_time_ms = 0;
    int rc = strbuf_printf(out, ",\"execution_time_ms\":%.3f,\"timestamp\":\"%s\"",
                           execution_time_ms, ts);
    if (!rc && cache_age_s >= 0)
        rc = strbuf_printf(out, ",\"cached\":true,\"cache_age_seconds\":%.3f", cache_age_s);
    return rc ? rc : strbuf_putc(out, '}');
}

int qenc_json_error(struct strbuf *out, const char *msg, double execution_time_ms,
                    int64_t timestamp_us)
{
    struct jsonw w;
    jsonw_init(&w, out);
    jsonw_obj_begin(&w);
    jsonw_kv_bool(&w, "success", false);
    jsonw_kv_str(&w, "error", msg);
    jsonw_kv_str(&w, "detail", msg);
    jsonw_key(&w, "columns");
    jsonw_arr_begin(&w);
    jsonw_arr_end(&w);
    jsonw_key(&w, "data");
    jsonw_arr_begin(&w);
    jsonw_arr_end(&w);
    jsonw_kv_i64(&w, "row_count", 0);
    jsonw_key(&w, "execution_time_ms");
    jsonw_f64_fixed(&w, execution_time_ms >= 0 ? execution_time_ms : 0, 3);
    jsonw_key(&w, "timestamp");
    jsonw_time_us(&w, timestamp_us);
    jsonw_obj_end(&w);
    return jsonw_finish(&w);
}

/* ---- the encoder object ---------------------------------------------- */

int qenc_new(const struct qenc_options *o, struct qenc **out, struct errbuf *eb)
{
    const struct qenc_ops *ops;
    switch (o->format) {
    case QENC_JSON: ops = &qenc__json_ops; break;
    case QENC_CSV: ops = &qenc__csv_ops; break;
    case QENC_ARROW: ops = &qenc__arrow_ops; break;
    default: return errbuf_set(eb, RC_INVALID, "unknown result format %d", (int)o->format);
    }
    struct qenc *e = xcalloc(1, sizeof(*e));
    e->o = *o;
    e->ops = ops;
    strbuf_init(&e->out, o->max_buffer_bytes);
    *out = e;
    return RC_OK;
}

void qenc_free(struct qenc **ep)
{
    struct qenc *e = ep ? *ep : NULL;
    if (!e)
        return;
    if (e->ops->free_state)
        e->ops->free_state(e);
    for (idx_t i = 0; i < e->ncols && e->ti; i++)
        qenc__tinfo_free(&e->ti[i]);
    xfree(e->ti);
    strbuf_cleanup(&e->out);
    xfree(e);
    *ep = NULL;
}

int qenc_begin(struct qenc *e, idx_t ncols, const char *const *names,
               const duckdb_logical_type *types, struct errbuf *eb)
{
    if (e->begun)
        return errbuf_set(eb, RC_INTERNAL, "qenc_begin called twice");
    e->begun = true;
    e->ncols = ncols;
    e->names = names;
    e->types = types;
    e->ti = xcalloc(ncols ? ncols : 1, sizeof(*e->ti));
    for (idx_t i = 0; i < ncols; i++)
        e->ti[i] = qenc__tinfo_new(types[i]);
    int rc = e->ops->begin(e, eb);
    if (rc == RC_LIMIT)
        errbuf_set(eb, rc, "result row too large for the output buffer");
    return rc;
}

int qenc_chunk(struct qenc *e, duckdb_data_chunk chunk, struct errbuf *eb)
{
    if (!e->begun || e->ended)
        return errbuf_set(eb, RC_INTERNAL, "qenc_chunk outside begin/end");
    idx_t n = duckdb_data_chunk_get_size(chunk);
    if (n == 0)
        return RC_OK;
    if (duckdb_data_chunk_get_column_count(chunk) != e->ncols)
        return errbuf_set(eb, RC_INTERNAL, "chunk has %llu columns, expected %llu",
                          (unsigned long long)duckdb_data_chunk_get_column_count(chunk),
                          (unsigned long long)e->ncols);
    int rc = e->ops->chunk(e, chunk, n, eb);
    if (rc == RC_LIMIT)
        errbuf_set(eb, rc, "result chunk larger than the output buffer limit");
    if (rc == RC_OK)
        e->rows += n;
    return rc;
}

int qenc_end(struct qenc *e, struct errbuf *eb)
{
    if (!e->begun || e->ended)
        return errbuf_set(eb, RC_INTERNAL, "qenc_end outside begin/end");
    e->ended = true;
    return e->ops->end(e, eb);
}

struct strbuf *qenc_output(struct qenc *e)
{
    return &e->out;
}

uint64_t qenc_rows(const struct qenc *e)
{
    return e->rows;
}
