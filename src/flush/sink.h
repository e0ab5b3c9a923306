/*
 * flush/sink.h — the interface between the flusher (flush worker threads,
 * flusher.c) and whatever writes Parquet (writer.c). Keeping it a struct of
 * function pointers lets the flusher be tested with a fault-injecting sink.
 */
#ifndef FLUSH_SINK_H
#define FLUSH_SINK_H

#include <stddef.h>

#include "util/rc.h"

struct batch;

struct flush_sink {
    /* Writes all rows of batches[0..n) (one db/measurement) to storage. Called from a flush worker
     * thread with no buffer lock held; may take seconds. On success *out_token is an opaque handle
     * for publish(). On failure nothing is visible and nothing needs publishing. */
    int (*write)(void *ctx, const char *db, const char *measurement, struct batch *const *batches,
                 size_t n, void **out_token, struct errbuf *eb);
    /* Makes what write() produced visible to queries and frees the token. Called while the caller
     * holds the buffer lock: must be fast, no I/O, never fails. */
    void (*publish)(void *ctx, void *token);
    /* Frees a token without publishing (used only on shutdown paths). May be NULL. */
    void (*discard)(void *ctx, void *token);
    void *ctx;
};

#endif
