/*
 * jobs/cq.c — continuous-query definitions: parsing and validation of a
 * request body, interval parsing, placeholder substitution and the
 * read-only check of the query (SPEC §8.2 "Definition fields").
 *
 * Owns nothing long-lived. Called from HTTP worker threads (create/update)
 * and from cq_exec.c (substitution). Pure functions apart from
 * cq_check_query, which borrows a query-engine connection.
 */
#include "jobs/cq.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ingest/batch.h"
#include "query/query.h"
#include "util/json.h"
#include "util/mem.h"
#include "util/timeutil.h"

void cq_def_cleanup(struct cq_def *d)
{
    if (!d)
        return;
    xfree(d->name);
    xfree(d->description);
    xfree(d->database);
    xfree(d->source_measurement);
    xfree(d->destination_measurement);
    xfree(d->query);
    xfree(d->interval);
    for (size_t i = 0; i < d->n_tag_columns; i++)
        xfree(d->tag_columns[i]);
    xfree(d->tag_columns);
    memset(d, 0, sizeof(*d));
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

void cq_def_copy(struct cq_def *dst, const struct cq_def *src)
{
    *dst = *src;
    dst->name = dup_or_null(src->name);
    dst->description = dup_or_null(src->description);
    dst->database = dup_or_null(src->database);
    dst->source_measurement = dup_or_null(src->source_measurement);
    dst->destination_measurement = dup_or_null(src->destination_measurement);
    dst->query = dup_or_null(src->query);
    dst->interval = dup_or_null(src->interval);
    dst->tag_columns = NULL;
    if (src->n_tag_columns) {
        dst->tag_columns = xcalloc(src->n_tag_columns, sizeof(char *));
        for (size_t i = 0; i < src->n_tag_columns; i++)
            dst->tag_columns[i] = xstrdup(src->tag_columns[i]);
    }
}

bool cq_interval_parse(const char *s, int64_t *out_us)
{
    if (!s || s[0] < '1' || s[0] > '9')
        return false;
    int64_t n = 0;
    size_t i = 0;
    for (; s[i] >= '0' && s[i] <= '9'; i++) {
        if (n > (INT64_MAX - 9) / 10)
            return false;
        n = n * 10 + (s[i] - '0');
    }
    if (s[i] == '\0' || s[i + 1] != '\0')
        return false;
    int64_t unit;
    switch (s[i]) {
    case 's': unit = US_PER_SEC; break;
    case 'm': unit = 60 * US_PER_SEC; break;
    case 'h': unit = US_PER_HOUR; break;
    case 'd': unit = US_PER_DAY; break;
    case 'w': unit = 7 * US_PER_DAY; break;
    default: return false;
    }
    /* Beyond ~100 years an interval means nothing; also keeps n * unit
     * far from overflow. */
    if (n > (100 * 366 * US_PER_DAY) / unit)
        return false;
    *out_us = n * unit;
    return true;
}

/* Valid UTF-8 without NUL bytes. */
static bool utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        size_t len;
        unsigned min;
        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            len = 2, min = 0x80, c &= 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, min = 0x800, c &= 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4, min = 0x10000, c &= 0x07;
        } else {
            return false;
        }
        if (i + len > n)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return false;
            c = (c << 6) | (p[i + k] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return false;
        i += len;
    }
    return true;
}

/* Reads a required string member. */
static int req_str(const struct json_value *body, const char *key, size_t max, char **out,
                   struct errbuf *eb)
{
    const struct json_value *v = json_obj_get(body, key);
    if (!v || json_is_null(v))
        return errbuf_set(eb, RC_INVALID, "%s is required", key);
    size_t len = 0;
    const char *s = json_as_str(v, &len);
    if (!s)
        return errbuf_set(eb, RC_INVALID, "%s must be a string", key);
    if (len == 0)
        return errbuf_set(eb, RC_INVALID, "%s must not be empty", key);
    if (len > max)
        return errbuf_set(eb, RC_INVALID, "%s is too long (maximum %zu bytes)", key, max);
    if (!utf8_valid(s, len))
        return errbuf_set(eb, RC_INVALID, "%s must be valid UTF-8 without NUL characters", key);
    *out = xstrndup(s, len);
    return RC_OK;
}

/* Reads an optional positive integer (absent or null = 0). */
static int opt_pos_int(const struct json_value *body, const char *key, int64_t *out,
                       struct errbuf *eb)
{
    const struct json_value *v = json_obj_get(body, key);
    *out = 0;
    if (!v || json_is_null(v))
        return RC_OK;
    int64_t n;
    if (!json_as_i64(v, &n) || n <= 0)
        return errbuf_set(eb, RC_INVALID, "%s must be an integer greater than 0", key);
    *out = n;
    return RC_OK;
}

static bool is_time_name(const char *s)
{
    return strcasecmp(s, "time") == 0;
}

static int parse_tags(const struct json_value *body, struct cq_def *d, struct errbuf *eb)
{
    const struct json_value *v = json_obj_get(body, "tag_columns");
    if (!v || json_is_null(v))
        return RC_OK;
    if (json_type(v) != JSON_ARRAY)
        return errbuf_set(eb, RC_INVALID, "tag_columns must be an array of column names");
    size_t n = json_arr_len(v);
    if (n > CQ_MAX_TAG_COLUMNS)
        return errbuf_set(eb, RC_INVALID, "tag_columns has more than %d entries",
                          CQ_MAX_TAG_COLUMNS);
    if (n == 0)
        return RC_OK;
    d->tag_columns = xcalloc(n, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        const char *s = json_as_str(json_arr_at(v, i), &len);
        if (!s)
            return errbuf_set(eb, RC_INVALID, "tag_columns[%zu] must be a string", i);
        if (len == 0 || len > COLUMN_NAME_MAX || !utf8_valid(s, len))
            return errbuf_set(eb, RC_INVALID,
                              "tag_columns[%zu] is not a valid column name (1-%d bytes of UTF-8)",
                              i, COLUMN_NAME_MAX);
        if (is_time_name(s))
            return errbuf_set(eb, RC_INVALID, "tag_columns must not contain 'time'");
        for (size_t k = 0; k < d->n_tag_columns; k++)
            if (strcmp(d->tag_columns[k], s) == 0)
                return errbuf_set(eb, RC_INVALID, "tag_columns lists '%s' twice", s);
        d->tag_columns[d->n_tag_columns++] = xstrndup(s, len);
    }
    return RC_OK;
}

static int check_name(const char *key, const char *s, bool database, struct errbuf *eb)
{
    size_t n = strlen(s);
    bool ok = database ? name_is_valid_database(s, n) : name_is_valid_measurement(s, n);
    if (!ok)
        return errbuf_set(eb, RC_INVALID,
                          "invalid %s '%.80s': names start with a letter, then letters, digits, "
                          "'_' or '-' (at most %d characters)",
                          key, s, database ? DB_NAME_MAX : MEASUREMENT_NAME_MAX);
    return RC_OK;
}

int cq_def_from_json(const struct json_value *body, struct cq_def *out, struct errbuf *eb)
{
    struct cq_def d;
    memset(&d, 0, sizeof(d));
    int rc = RC_OK;
    if (json_type(body) != JSON_OBJECT) {
        rc = errbuf_set(eb, RC_INVALID, "request body must be a JSON object");
        goto out;
    }
    if ((rc = req_str(body, "name", CQ_NAME_MAX, &d.name, eb)) ||
        (rc = req_str(body, "database", DB_NAME_MAX, &d.database, eb)) ||
        (rc = check_name("database", d.database, true, eb)) ||
        (rc = req_str(body, "source_measurement", MEASUREMENT_NAME_MAX, &d.source_measurement,
                      eb)) ||
        (rc = check_name("source_measurement", d.source_measurement, false, eb)) ||
        (rc = req_str(body, "destination_measurement", MEASUREMENT_NAME_MAX,
                      &d.destination_measurement, eb)) ||
        (rc = check_name("destination_measurement", d.destination_measurement, false, eb)) ||
        (rc = req_str(body, "query", CQ_QUERY_MAX, &d.query, eb)) ||
        (rc = req_str(body, "interval", 32, &d.interval, eb)))
        goto out;
    if (strcmp(d.source_measurement, d.destination_measurement) == 0) {
        rc = errbuf_set(eb, RC_INVALID,
                        "destination_measurement must differ from source_measurement");
        goto out;
    }
    if (!strstr(d.query, "{start_time}") || !strstr(d.query, "{end_time}")) {
        rc = errbuf_set(eb, RC_INVALID,
                        "query must contain both {start_time} and {end_time} placeholders");
        goto out;
    }
    if (!cq_interval_parse(d.interval, &d.interval_us)) {
        rc = errbuf_set(eb, RC_INVALID,
                        "invalid interval '%.40s': expected <n><unit> with unit s, m, h, d or w "
                        "(e.g. 1h)",
                        d.interval);
        goto out;
    }
    const struct json_value *desc = json_obj_get(body, "description");
    if (desc && !json_is_null(desc)) {
        size_t len = 0;
        const char *s = json_as_str(desc, &len);
        if (!s) {
            rc = errbuf_set(eb, RC_INVALID, "description must be a string");
            goto out;
        }
        if (len > CQ_DESCRIPTION_MAX || !utf8_valid(s, len)) {
            rc = errbuf_set(eb, RC_INVALID, "description must be valid UTF-8 of at most %d bytes",
                            CQ_DESCRIPTION_MAX);
            goto out;
        }
        d.description = xstrndup(s, len);
    }
    if ((rc = parse_tags(body, &d, eb)) ||
        (rc = opt_pos_int(body, "retention_days", &d.retention_days, eb)) ||
        (rc = opt_pos_int(body, "delete_source_after_days", &d.delete_source_after_days, eb)))
        goto out;
    d.is_active = true;
    const struct json_value *act = json_obj_get(body, "is_active");
    if (act && !json_is_null(act) && !json_as_bool(act, &d.is_active)) {
        rc = errbuf_set(eb, RC_INVALID, "is_active must be a boolean");
        goto out;
    }
    d.last_execution_time_us = CQ_TIME_NONE;
    d.last_processed_time_us = CQ_TIME_NONE;
    d.last_records_written = -1;
out:
    if (rc != RC_OK) {
        cq_def_cleanup(&d);
        memset(out, 0, sizeof(*out));
        return rc;
    }
    *out = d;
    return RC_OK;
}

int cq_substitute(const char *query, int64_t start_us, int64_t end_us, struct strbuf *out)
{
    char start[64], end[64];
    start[0] = end[0] = '\'';
    size_t ls = time_format_rfc3339_us(start_us, start + 1, sizeof(start) - 2);
    size_t le = time_format_rfc3339_us(end_us, end + 1, sizeof(end) - 2);
    start[ls + 1] = end[le + 1] = '\'';
    start[ls + 2] = end[le + 2] = '\0';
    int rc = RC_OK;
    const char *p = query;
    while (rc == RC_OK && *p) {
        const char *a = strstr(p, "{start_time}");
        const char *b = strstr(p, "{end_time}");
        const char *hit = a && (!b || a < b) ? a : b;
        if (!hit) {
            rc = strbuf_puts(out, p);
            break;
        }
        rc = strbuf_append(out, p, (size_t)(hit - p));
        if (rc == RC_OK)
            rc = strbuf_puts(out, hit == a ? start : end);
        p = hit + (hit == a ? strlen("{start_time}") : strlen("{end_time}"));
    }
    return rc;
}

int cq_check_query(struct query_engine *qe, const struct cq_def *d, struct errbuf *eb)
{
    if (!qe)
        return RC_OK;
    /* Sample window: the last whole hour. Any valid timestamps would do;
     * recent ones keep time pruning cheap if the source has data. */
    int64_t end = time_floor_hour(time_now_us());
    struct strbuf sql;
    strbuf_init(&sql, 0);
    int rc = strbuf_puts(&sql, "EXPLAIN ");
    if (rc == RC_OK)
        rc = cq_substitute(d->query, end - US_PER_HOUR, end, &sql);
    if (rc != RC_OK) {
        strbuf_cleanup(&sql);
        return errbuf_set(eb, RC_INTERNAL, "out of memory building the query");
    }
    /* EXPLAIN is accepted by the engine only around a read-only statement,
     * and it plans without running anything. A leading EXPLAIN in the
     * user's query would make this EXPLAIN EXPLAIN, which the engine
     * refuses: a CQ must be a plain SELECT. */
    struct query_request req = {.sql = sql.data, .default_db = d->database};
    struct query_cursor *c = NULL;
    struct errbuf qeb = {0};
    rc = query_execute(qe, &req, &c, &qeb);
    query_cursor_close(&c);
    strbuf_cleanup(&sql);
    if (rc == RC_OK)
        return RC_OK;
    if (rc == RC_BUSY || rc == RC_TIMEOUT)
        return errbuf_set(eb, RC_BUSY, "cannot check the query now: %s", qeb.msg);
    if (rc == RC_INVALID || rc == RC_DENIED || rc == RC_PARSE)
        return errbuf_set(eb, RC_INVALID, "invalid query: %s", qeb.msg);
    return errbuf_set(eb, rc, "cannot check the query: %s", qeb.msg);
}
