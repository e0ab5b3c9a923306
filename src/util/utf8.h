/*
 * util/utf8.h — UTF-8 validation and repair, one definition for every module
 * that stores or prints strings (Parquet writer, buffered-row scan, JSON
 * writer), so flushed rows, buffered rows and responses agree byte for byte.
 *
 * Valid means RFC 3629: no overlong forms, no surrogates, nothing above
 * U+10FFFF. Repair replaces every byte that does not start a valid sequence
 * with U+FFFD (the ingest rule, SPEC §2.2). Thread-safe, no state.
 */
#ifndef UTIL_UTF8_H
#define UTIL_UTF8_H

#include <stdbool.h>
#include <stddef.h>

#include "util/strbuf.h"

/* Length (1–4) of the valid sequence starting at s (n bytes available), or 0
 * if s does not start a valid sequence. n must be > 0. */
size_t utf8_seq_len(const unsigned char *s, size_t n);

/* True if all n bytes are valid UTF-8 (ASCII runs are skipped 8 at a time). */
bool utf8_valid(const unsigned char *s, size_t n);

/* Writes s into out (reset first) with every invalid byte replaced by
 * U+FFFD. out's cap, if any, must allow 3 × n bytes. */
void utf8_repair(const unsigned char *s, size_t n, struct strbuf *out);

#endif
