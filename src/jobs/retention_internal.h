/*
 * jobs/retention_internal.h — struct retention, shared by retention.c
 * (policy store, scheduling) and retention_exec.c (execution) only.
 */
#ifndef JOBS_RETENTION_INTERNAL_H
#define JOBS_RETENTION_INTERNAL_H

#include <duckdb.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>

#include "jobs/retention.h"
#include "metrics/metrics.h"

struct retention {
    /* Immutable after retention_open. */
    struct storage *st;
    struct catalog *cat;
    char *temp_dir;
    int64_t lock_wait_ms, lock_ttl_ms;
    struct metric *m_runs_ok, *m_runs_failed, *m_files, *m_rows;

    /* db_lock guards db (short statements only; never held during an
     * execution's storage or DuckDB work). */
    pthread_mutex_t db_lock;
    sqlite3 *db;

    /* duck_lock guards the lazily opened DuckDB used to read statistics of
     * files the catalog has only approximately (held while reading them:
     * one reader at a time, executions are rare). */
    pthread_mutex_t duck_lock;
    duckdb_database duck;
    duckdb_connection duck_conn;

    /* sched_lock guards the scheduled-run state below. */
    pthread_mutex_t sched_lock;
    struct scheduler *sched;
    pthread_t run_thread;
    bool run_thread_live; /* joinable thread exists */
    atomic_bool run_busy; /* a scheduled run is in progress */
    atomic_uint_fast64_t exec_seq;
};

/* retention.c: records an execution (non-dry runs) and updates the
 * policy's last_* fields in one transaction. */
int retention__record(struct retention *r, int64_t policy_id, int64_t at_us, bool ok,
                      int64_t deleted, int64_t cutoff_us, double duration_ms, const char *error,
                      struct errbuf *eb) MUST_CHECK;

#endif
