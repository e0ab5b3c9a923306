/*
 * api/app.h — the running server: owns every module instance, starts them in
 * dependency order and stops them in reverse. Endpoint handlers (api_*.c)
 * receive the app through http_req_app().
 *
 * Start order (app_start):   storage → catalog → flush writer → buffer →
 *                            flusher → HTTP server
 * Stop order (app_stop):     HTTP quiesce → drain in-flight requests →
 *                            flusher_stop (flush every buffer) → HTTP stop →
 *                            buffer → writer → catalog → storage
 *
 * Threads: app_start/app_stop run on the main thread. Handlers run on HTTP
 * worker threads, or on the I/O threads for HTTP_EXEC_INLINE routes (writes,
 * health), and only read the module pointers, which do not change between
 * start and stop.
 */
#ifndef API_APP_H
#define API_APP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/config.h"
#include "util/rc.h"

struct http_server;
struct storage;
struct catalog;
struct flush_writer;
struct colbuf;
struct flusher;
struct metric;
struct auth;
struct query_engine;
struct cq_store;
struct cq_service;
struct del_service;
struct qcache;
struct scheduler;
struct compaction;
struct retention;
struct readcache;
struct refresh;
struct storage_probe;

/* Counters of the write endpoints (SPEC §1.7 "stats"). */
struct write_stats {
    _Atomic uint64_t total_requests;
    _Atomic uint64_t total_records;
    _Atomic uint64_t total_bytes;         /* decoded body bytes */
    _Atomic uint64_t total_bytes_gzipped; /* wire bytes of compressed bodies */
    _Atomic uint64_t total_errors;        /* requests answered with an error */
    _Atomic uint64_t total_lines_rejected;
    _Atomic uint64_t msgpack_decoded; /* msgpack requests decoded */
    _Atomic uint64_t msgpack_errors;
};

struct app {
    const struct config *cfg; /* owned by main; read-only */
    int64_t start_us;         /* wall clock at start */
    int64_t start_mono_ns;

    struct storage *storage;
    struct catalog *catalog;
    struct flush_writer *writer;
    struct colbuf *colbuf;
    struct flusher *flusher;
    struct http_server *http;
    struct auth *auth;           /* token store + verification (auth/auth.h) */
    struct query_engine *qe;     /* SQL over the stored data (query/query.h) */
    struct cq_store *cq_store;   /* continuous-query definitions, jobs.db (jobs/cq.h) */
    struct cq_service *cq;       /* continuous-query execution (jobs/cq.h) */
    struct del_service *del;     /* rewrite-based deletes (jobs/delete.h) */
    struct qcache *qcache;       /* query result cache (query/qcache.h) */
    struct readcache *readcache; /* remote data files for queries (storage/readcache.h) */
    struct refresh *refresh;     /* catalog refresh from a listing (flush/refresh.h); NULL = off */
    struct storage_probe *probe; /* background storage probe for /ready, /health */
    struct scheduler *sched;     /* the jobs scheduler thread (jobs/scheduler.h) */
    struct compaction *compaction; /* NULL when compaction.enabled = false (jobs/compaction.h) */
    struct retention *retention;   /* NULL when retention.enabled = false (jobs/retention.h) */
    char node_id[33];              /* storage.node_id, resolved (flush/writer.h) */

    _Atomic bool startup_complete; /* /ready turns 200 */
    _Atomic bool shutting_down;    /* writes get 503, /ready 503 */

    struct write_stats wstats;
    struct metric *m_ingest_records, *m_ingest_bytes, *m_ingest_batches, *m_ingest_errors,
        *m_lines_rejected, *m_lp_requests, *m_lp_records, *m_mp_requests, *m_mp_records,
        *m_backpressure, *m_body_decomp_too_large, *m_body_bad_encoding, *m_decode_seconds;
};

/* Starts every module and the HTTP server. On failure everything started is
 * stopped again and eb says what failed. */
int app_start(struct app *app, const struct config *cfg, struct errbuf *eb) MUST_CHECK;

/* Graceful stop within server.shutdown_timeout_seconds (see the order above).
 * Returns RC_OK if every buffer was flushed. */
int app_stop(struct app *app);

/* Port the HTTP server is bound to. */
int app_port(const struct app *app);

/* Route table (api/routes.c). */
struct http_route;
const struct http_route *api_routes(size_t *n);

#endif
