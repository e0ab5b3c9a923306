/*
 * jobs/scheduler.h — the one scheduler thread of the jobs module (DESIGN.md:
 * "jobs/ compaction, retention, continuous queries, delete — one scheduler
 * thread"), cron parsing, and partition locks shared by compaction, retention
 * and deletes (SPEC §7.2).
 *
 * The scheduler thread only decides *when*: a job callback that takes long
 * (a compaction cycle) must hand the work to its own worker thread(s) and
 * return, so one slow job never delays the others. Every job has a deadline.
 *
 * Threads: scheduler_* may be called from any thread; callbacks run on the
 * scheduler thread ("arc-sched"). partlock_* are thread-safe.
 */
#ifndef JOBS_SCHEDULER_H
#define JOBS_SCHEDULER_H

#include <stdbool.h>
#include <stdint.h>

#include "util/rc.h"

/* --- cron (5 fields, UTC: minute hour day-of-month month day-of-week) ---- */
struct cron_expr {
    uint64_t minutes; /* bit i = minute i allowed */
    uint32_t hours;
    uint32_t mdays;  /* bits 1..31 */
    uint16_t months; /* bits 1..12 */
    uint8_t wdays;   /* bits 0..6, Sunday = 0 (7 accepted as Sunday) */
    bool mday_star, wday_star;
};
/* Parses "*", lists, ranges and steps ("5 * * * *", "0 3 * * *",
 * "*\/15 0-6 1,15 * 1-5"). RC_INVALID with a message on error. */
int cron_parse(const char *text, struct cron_expr *out, struct errbuf *eb) MUST_CHECK;
/* First matching minute strictly after after_us (UTC), in µs; INT64_MAX if
 * the expression never matches (e.g. "0 0 30 2 *"). Names (jan, mon) and
 * the macros @hourly, @daily, @weekly, @monthly, @yearly are accepted too
 * (docs/compaction.md). */
int64_t cron_next(const struct cron_expr *c, int64_t after_us);

/* --- scheduler ------------------------------------------------------------ */
struct scheduler;
typedef void (*sched_job_fn)(void *ctx, int64_t now_us);

int scheduler_start(struct scheduler **out, struct errbuf *eb) MUST_CHECK;
/* Runs fn at every match of cron (a 5-field expression). */
int scheduler_add_cron(struct scheduler *s, const char *name, const char *cron, sched_job_fn fn,
                       void *ctx, struct errbuf *eb) MUST_CHECK;
/* Runs fn every interval_ms (first run after one interval). */
int scheduler_add_interval(struct scheduler *s, const char *name, int64_t interval_ms,
                           sched_job_fn fn, void *ctx, struct errbuf *eb) MUST_CHECK;
/* Next and last run of a named job (µs, 0 if never/unknown). */
bool scheduler_job_times(struct scheduler *s, const char *name, int64_t *next_us, int64_t *last_us);
/* Removes a named job; if its callback is running on the scheduler thread,
 * waits for it to return first (unless called from that callback), so the
 * caller may free the job's ctx afterwards. False if there is no such job. */
bool scheduler_remove(struct scheduler *s, const char *name);
/* Stops the thread (waits for a running callback) and frees; *s = NULL. */
void scheduler_stop(struct scheduler **s);

/* --- partition locks (SPEC §7.2) ---------------------------------------- */
/* A partition is "db/measurement/YYYY/MM/DD[/HH]". Locks are exclusive and
 * expire after ttl_ms (crash safety within the process; compaction.lock_ttl_hours).
 * Returns false if another owner holds an unexpired lock on the same
 * partition, or on a parent/child partition (a day lock conflicts with its
 * hours). The same owner may take a lock again (its TTL is renewed), so
 * every concurrent job must use its own owner string ("compaction:17").
 * ttl_ms <= 0 = never expires. partlock_release frees the owner's lock on
 * exactly that partition (no-op if not held). */
bool partlock_try(const char *partition, const char *owner, int64_t ttl_ms);
void partlock_release(const char *partition, const char *owner);
/* True if an unexpired lock overlapping `partition` (same, parent or child)
 * is held by an owner other than except_owner (NULL = any owner). A hint
 * for listings (GET /api/v1/compaction/candidates): it may change at once. */
bool partlock_is_held(const char *partition, const char *except_owner);

#endif
