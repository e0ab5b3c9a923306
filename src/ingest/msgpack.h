/*
 * ingest/msgpack.h — MessagePack write-format decoder (SPEC §1.4).
 *
 * Turns the body of POST /api/v1/write/msgpack into sealed columnar batches,
 * one per distinct measurement of the request. The request is all or
 * nothing: if any item fails validation (or a column type conflicts with the
 * catalog) no batch is returned.
 *
 * Decisions beyond the SPEC text (see msgpack.c for the reasons):
 *   - string values with invalid UTF-8 are repaired with U+FFFD (as the line
 *     protocol does); column names must be valid UTF-8 without NUL bytes;
 *   - float seconds / milliseconds round to the nearest microsecond, finer
 *     units are floored; timestamps outside years 0001-9999 are rejected;
 *   - a row item's field named like one of its tags is stored as
 *     `<key>_value` (§2.3); non-string tag values become text ("12",
 *     "21.5", "true"); nil tags and nil fields are simply absent;
 *   - a key given twice in one item map, a column given twice in one item,
 *     both `fields` and `f`, or `columns` with `fields` are rejected;
 *   - a declared tag (`tags` of a columnar item) must name a string column of
 *     that item;
 *   - besides §2.3's int -> DOUBLE widening, non-negative integers are
 *     accepted into a UINT64 catalog column [Ext].
 *
 * Prefix: `mpdec_`. msgpuck, the library underneath, owns `mp_`; only
 * ingest/msgpack.c includes <msgpuck.h> (and provides its out-of-line
 * definitions with MP_SOURCE, so no other file may define MP_SOURCE).
 *
 * Thread-safety: mpdec_decode keeps all its state on the stack and in the
 * result; any number of HTTP threads may call it concurrently. The schema
 * checker it calls must itself be thread-safe.
 */
#ifndef INGEST_MSGPACK_H
#define INGEST_MSGPACK_H

#include <stddef.h>
#include <stdint.h>

#include "ingest/batch.h"
#include "util/rc.h"

/* Timestamp units for mpdec_options.forced_unit ([Ext] ?precision=). */
enum mpdec_unit {
    MPDEC_UNIT_INFER = 0, /* decide from magnitude, SPEC §1.4 */
    MPDEC_UNIT_S = 1,
    MPDEC_UNIT_MS = 2,
    MPDEC_UNIT_US = 3,
    MPDEC_UNIT_NS = 4,
};

struct mpdec_options {
    const char *db;               /* target database, already validated by the caller */
    int64_t default_ts_us;        /* receipt time, used for rows without a timestamp */
    int forced_unit;              /* enum mpdec_unit; 0 = infer from magnitude */
    struct schema_checker schema; /* catalog type check; check == NULL disables it */
    size_t max_mem_bytes;         /* cap on decoded batch memory (bytes); 0 = default of
                                     16 x body length + 64 MiB. Past it: RC_LIMIT. */
};

struct mpdec_result {
    struct batch **batches; /* sealed; the caller owns one reference to each */
    size_t nbatches;
    size_t items; /* items decoded */
    size_t rows;  /* rows over all batches */
};

/*
 * Decodes `len` bytes of MessagePack (one or more concatenated top-level
 * objects: an item map, {"batch": [items]} or an array of items).
 *
 * Returns RC_OK and fills *out (which it first zeroes), or:
 *   RC_PARSE   malformed / truncated MessagePack ("malformed MessagePack at
 *              byte N"), empty body;
 *   RC_INVALID a validation failure; the message names the item index, and
 *              where relevant the column and row index; also catalog type
 *              conflicts ("field type conflict: field "x" is integer, got
 *              float");
 *   RC_LIMIT   decoded data would exceed max_mem_bytes;
 *   any code the schema checker returns for its own failures.
 * On error *out is left empty (nothing to free, though calling
 * mpdec_result_cleanup is harmless) and eb holds the message.
 *
 * Schema checks happen only after every item decoded successfully, once per
 * distinct (measurement, column), so a request rejected for its content
 * records nothing in the catalog; a conflict in one column can still leave
 * earlier, new columns of the same request recorded (the checker has no
 * rollback).
 */
int mpdec_decode(const char *body, size_t len, const struct mpdec_options *o,
                 struct mpdec_result *out, struct errbuf *eb) MUST_CHECK;

/* Drops the caller's reference to every batch and frees the array; leaves
 * *r zeroed. Accepts NULL and an already cleaned-up result. */
void mpdec_result_cleanup(struct mpdec_result *r);

#endif
