/*
 * tests/integration/support/ingest_util.h — small helpers shared by the
 * ingestion integration tests: write and assert a status, synchronous flush,
 * buffer statistics, JSON response parsing (with the server's own strict
 * parser, util/json.h) and wall-clock time.
 *
 * Every helper fails the running cmocka test (printing the response) when the
 * server does not answer as asserted.
 */
#ifndef ITEST_INGEST_UTIL_H
#define ITEST_INGEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "harness.h"
#include "util/json.h"

/* POSTs len bytes of body to path with headers (NULL-terminated "Name: value"
 * list, may be NULL) and asserts the status. Returns the response (free with
 * http_resp_free). */
struct http_resp it_post(const struct arc_proc *p, const char *path, const char *const *headers,
                         const void *body, size_t len, long want_status);

/* POSTs a NUL-terminated line-protocol body and asserts 204. */
void it_write_ok(const struct arc_proc *p, const char *path, const char *body);

/* POST /api/v1/write/flush (with ?database= and &measurement= when non-NULL),
 * asserts 200 and "status":"success", returns flushed_records. */
int64_t it_flush(const struct arc_proc *p, const char *db, const char *m);

/* GET /api/v1/write/stats → buffer_stats.current_buffer_sizes["<key>"]
 * ("db/measurement"); 0 when the key is absent. */
int64_t it_held_rows(const struct arc_proc *p, const char *key);

/* Parses the response body as JSON (fails the test if it is not JSON).
 * Free with json_free. */
struct json_value *it_json(const struct http_resp *r);

/* String / integer member of a JSON object, failing the test if absent or of
 * another type. The string lives as long as the document. */
const char *it_jstr(const struct json_value *obj, const char *key);
int64_t it_jint(const struct json_value *obj, const char *key);

/* Wall-clock time in microseconds since the Unix epoch. */
int64_t it_now_us(void);

#endif
