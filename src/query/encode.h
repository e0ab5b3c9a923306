/*
 * query/encode.h — streaming result encoders: JSON (SPEC §4.2), CSV (§4.7)
 * and the Apache Arrow IPC stream format (§4.6).
 *
 * An encoder turns a column description plus a sequence of DuckDB data
 * chunks into bytes, appended to its own output buffer, which the caller
 * drains between calls (an HTTP reader callback copies it to the socket).
 * Memory therefore stays bounded by about one chunk's output, whatever the
 * number of rows:
 *
 *   qenc_new(opts)                       JSON        CSV          Arrow
 *   qenc_begin(ncols, names, types)  ->  {"success":  header line  schema message
 *                                         true,"columns":[..],"data":[
 *   qenc_chunk(chunk)  (repeat)      ->  [..],[..]   rows         one record batch
 *   qenc_end()                       ->  ],"row_count":N   -     end-of-stream marker
 *   qenc_json_tail(out, ...)  (JSON) ->  ,"execution_time_ms":..,"timestamp":".."}
 *
 * After each call the caller takes qenc_output(e)->data[0..len) and then
 * strbuf_reset()s the buffer. The JSON body is split at "row_count" so the
 * query cache can store everything up to there and add a fresh tail (with
 * "cached": true) on a hit.
 *
 * Value rendering (JSON and CSV; docs/query-encoding.md has the tables):
 * integers of every width with exact digits (HUGEINT/UHUGEINT too), floats
 * as shortest round-trip numbers with NaN/Inf -> null, DECIMAL as an exact
 * number, BLOB as base64, TIMESTAMP/TIMESTAMPTZ of any unit as RFC 3339 UTC
 * with 'Z' and a trimmed fraction, DATE/TIME/INTERVAL/UUID/TIME_TZ/BIT as
 * DuckDB renders them, LIST/ARRAY -> array, STRUCT -> object, MAP -> object
 * (VARCHAR keys) or [{"key":..,"value":..}], UNION -> its active member.
 * In CSV, nested values are written as their JSON text (quoted per RFC 4180).
 *
 * Threads: an encoder belongs to one thread at a time (the HTTP worker
 * running the query and its stream reader); different encoders are
 * independent. DuckDB objects passed in stay owned by the caller.
 */
#ifndef QUERY_ENCODE_H
#define QUERY_ENCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <duckdb.h>

#include "util/rc.h"
#include "util/strbuf.h"

enum qenc_format {
    QENC_JSON = 0, /* SPEC §4.2 body */
    QENC_CSV,      /* RFC 4180, header line first, CRLF line ends */
    QENC_ARROW,    /* Arrow IPC stream: schema, one record batch per chunk, EOS */
};

struct qenc_options {
    enum qenc_format format;
    /* Arrow: options of the result being encoded (duckdb_result_get_arrow_options);
     * borrowed, must stay valid until qenc_free. May be NULL when there are
     * no columns. Ignored by JSON and CSV. */
    duckdb_arrow_options arrow_options;
    /* Cap on the output buffer (bytes). 0 = none. One chunk that would need
     * more fails with RC_LIMIT (a safety net against pathological rows; the
     * normal bound is one chunk's output because the caller drains). */
    size_t max_buffer_bytes;
};

struct qenc;

/* Creates an encoder. Never fails except for an unknown format (RC_INVALID).
 * Free with qenc_free. */
int qenc_new(const struct qenc_options *o, struct qenc **out, struct errbuf *eb) MUST_CHECK;

/* Frees the encoder (and its output buffer); sets *e to NULL. Accepts NULL. */
void qenc_free(struct qenc **e);

/* Starts the output with the result shape. names[i] and types[i] are
 * borrowed and must stay valid until qenc_free (the cursor keeps them).
 * ncols may be 0 (an empty measurement: "columns": []). Arrow: RC_DB if
 * DuckDB cannot export a type, RC_INVALID for a type the IPC writer cannot
 * represent. Call exactly once, first. */
int qenc_begin(struct qenc *e, idx_t ncols, const char *const *names,
               const duckdb_logical_type *types, struct errbuf *eb) MUST_CHECK;

/* Appends the rows of one chunk (its columns must match qenc_begin). Empty
 * chunks are allowed (Arrow writes no batch for them). RC_LIMIT past
 * max_buffer_bytes, RC_DB if DuckDB's Arrow export fails. */
int qenc_chunk(struct qenc *e, duckdb_data_chunk chunk, struct errbuf *eb) MUST_CHECK;

/* Finishes the body: JSON "],\"row_count\":N" (then call qenc_json_tail),
 * nothing for CSV, the end-of-stream marker for Arrow. */
int qenc_end(struct qenc *e, struct errbuf *eb) MUST_CHECK;

/* The output buffer: the caller consumes data[0..len) and strbuf_reset()s
 * it. Owned by the encoder. */
struct strbuf *qenc_output(struct qenc *e);

/* Rows encoded so far. */
uint64_t qenc_rows(const struct qenc *e);

/* Appends the end of a §4.2 JSON body after qenc_end's "row_count":
 * ,"execution_time_ms":x,"timestamp":"<RFC 3339>" and, when cache_age_s >= 0,
 * ,"cached":true,"cache_age_seconds":y; then "}". */
int qenc_json_tail(struct strbuf *out, double execution_time_ms, int64_t timestamp_us,
                   double cache_age_s) MUST_CHECK;

/* A complete §4.2 error body:
 * {"success":false,"error":msg,"detail":msg,"columns":[],"data":[],
 *  "row_count":0,"execution_time_ms":x,"timestamp":"..."}. */
int qenc_json_error(struct strbuf *out, const char *msg, double execution_time_ms,
                    int64_t timestamp_us) MUST_CHECK;

/* Renders one value of a flat DuckDB vector as JSON (as the JSON encoder
 * does), for other modules and tests. */
int qenc_value_json(struct strbuf *out, duckdb_vector v, duckdb_logical_type t,
                    idx_t row) MUST_CHECK;

#endif
