/*
 * ingest/lp.h — InfluxDB line-protocol decoder (SPEC §1.3, §2).
 *
 * lp_parse turns one decoded request body into sealed columnar batches, one
 * per distinct measurement, plus per-line accounting for the partial-write
 * response. Valid lines are kept, invalid lines are rejected one by one
 * (InfluxDB partial-write semantics); rows with the same measurement, tag set
 * and timestamp within the request are merged (SPEC §1.5).
 *
 * Called from HTTP request threads. Every call is independent (no global
 * state), so any number of threads may parse at once.
 */
#ifndef INGEST_LP_H
#define INGEST_LP_H

#include <stddef.h>
#include <stdint.h>

#include "ingest/batch.h"
#include "util/rc.h"

/* --- precision ----------------------------------------------------------- */

/* Timestamp unit of a request (`precision` query parameter, SPEC §2.4). */
enum lp_precision { LP_NS, LP_US, LP_MS, LP_S, LP_M, LP_H };

/* Parses a precision word: "ns" "n" "us" "u" "µ" (U+00B5) "μ" (U+03BC) "ms"
 * "s" "m" "h". NULL or "" means ns. Returns RC_OK and sets *out, or
 * RC_INVALID (then *out is untouched). */
int lp_precision_parse(const char *s, enum lp_precision *out) MUST_CHECK;

/* --- parsing ------------------------------------------------------------- */

struct lp_options {
    const char *db; /* target database (already validated, §0.4) */
    enum lp_precision precision;
    int64_t default_ts_us;        /* receipt time, for lines without timestamp */
    size_t max_line_bytes;        /* ingestion.max_line_bytes; 0 = unlimited */
    size_t max_reported_errors;   /* ingestion.max_reported_errors */
    struct schema_checker schema; /* check may be NULL (no cross-request types) */
};

#define LP_REASON_MAX 160
#define LP_TEXT_MAX 256         /* error text bytes (SPEC §1.3) */
#define LP_SUMMARY_LINE_MAX 200 /* quoted line in the summary message */

struct lp_error {
    size_t line;                /* 1-based physical line where the record starts */
    char reason[LP_REASON_MAX]; /* e.g. `invalid field value for key "usage"` */
    char text[LP_TEXT_MAX + 1]; /* the line, truncated to 256 bytes (UTF-8 safe) */
};

struct lp_result {
    struct batch **batches; /* sealed, non-empty; caller owns one ref each */
    size_t nbatches;
    size_t lines_received; /* data lines (blank and comment lines not counted) */
    size_t lines_accepted;
    size_t lines_rejected;
    size_t rows;             /* rows after merging (sum of batch nrows) */
    struct lp_error *errors; /* the first max_reported_errors rejections */
    size_t nerrors;
    char first_rejected[LP_SUMMARY_LINE_MAX + 1]; /* first rejected line, ≤ 200 bytes */
    char first_reason[LP_REASON_MAX];             /* its reason (even if nerrors == 0) */
};

/*
 * Parses `len` bytes of line protocol into *out (which it initialises; call
 * lp_result_cleanup afterwards whatever the return code).
 *
 * Returns RC_OK even when lines were rejected: the counts and errors say so.
 * A non-OK return is only for a failure that is not about one line: RC_INVALID
 * for bad arguments, or the code of a schema checker that failed with
 * something other than RC_INVALID (e.g. RC_DB); then *out holds no batches.
 *
 * Behaviour (details in lp.c):
 *  - a line is validated completely before it touches a batch, so a rejected
 *    line leaves nothing behind (no row, no value, no new column);
 *  - column types are checked against earlier lines of the request and
 *    against o->schema (tags count as STRING); o->schema.check is called once
 *    per (measurement, column) the request creates. Caveat: when one line
 *    creates several new columns and a later one of them conflicts, the
 *    checker may already have recorded the earlier ones;
 *  - timestamps are stored in microseconds; rows are merged on
 *    (measurement, tag set, timestamp in µs);
 *  - invalid UTF-8 in values becomes U+FFFD; invalid UTF-8 in names (tag or
 *    field keys) rejects the line; a UTF-8 BOM at the start of the body is
 *    skipped.
 * Thread-safe; `body` need not be NUL-terminated and is not kept.
 */
int lp_parse(const char *body, size_t len, const struct lp_options *o,
             struct lp_result *out) MUST_CHECK;

/* Drops the batch references still held by r and frees the error list;
 * leaves r zeroed. Accepts NULL. To keep a batch, take it out of
 * r->batches (set the slot to NULL) or batch_ref it before cleanup. */
void lp_result_cleanup(struct lp_result *r);

/* Formats the SPEC §1.3 summary
 *   partial write: unable to parse '<line>': <reason> dropped=<n>
 * into out (always NUL-terminated when cap > 0; truncated to cap). Control
 * characters (the newline of a multi-line record, or one inside a key quoted
 * by the reason) become spaces, so the message is one line and fits an HTTP
 * header (under 512 bytes with cap >= 512). With no rejected line the
 * message is empty. Returns the length written. */
size_t lp_summary_message(const struct lp_result *r, char *out, size_t cap);

#endif
