/*
 * api/api_wal.h — the WAL endpoints (SPEC §6.4): status, stats, files,
 * health, recovery history and cleanup of recovered segments. The WAL
 * itself lives in wal/; these handlers only read its state (memory, plus
 * readdir/stat of the WAL directory for files and history) and format it.
 * Cleanup is carried out by the WAL writer thread (wal_cleanup_recovered).
 *
 * Threads: every handler runs on an HTTP worker thread (readdir/stat may
 * block).
 */
#ifndef API_API_WAL_H
#define API_API_WAL_H

#include "http/http.h"

struct wal;

/* Home of the WAL instance until struct app carries it: set it once at
 * startup (after wal_open), clear it before wal_close. NULL = WAL disabled:
 * status and health answer "disabled", the other endpoints 400
 * "WAL is not enabled". */
extern struct wal *api_wal_global;

/* Handlers (route entries in docs/wal.md). */
void api_wal_status(struct http_request *req);           /* GET  /api/v1/wal/status (read) */
void api_wal_stats(struct http_request *req);            /* GET  /api/v1/wal/stats (read) */
void api_wal_files(struct http_request *req);            /* GET  /api/v1/wal/files (read) */
void api_wal_health(struct http_request *req);           /* GET  /api/v1/wal/health (read) */
void api_wal_recovery_history(struct http_request *req); /* GET  /api/v1/wal/recovery/history
                                                            (read) */
void api_wal_cleanup(struct http_request *req);          /* POST /api/v1/wal/cleanup
                                                            ?max_age_hours= (admin) */

#endif
