/*
 * tests/unit/jobs/compaction_fixture.h — helpers shared by the compaction
 * test executables (split so that each runs in a few seconds under ASan):
 * default options, start/cycle helpers, the queries compared before and
 * after compaction, and the rows of the visible files via read_parquet.
 */
#ifndef TESTS_UNIT_JOBS_COMPACTION_FIXTURE_H
#define TESTS_UNIT_JOBS_COMPACTION_FIXTURE_H

#include "jobs_fixture.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>

#include "jobs/compaction.h"
#include "jobs/compaction_internal.h"
#include "jobs/scheduler.h"
#include "query/qcache.h"
#include "util/faults.h"

#define DB "default"
#define M "cpu"
#define H14 "2025-01-15T14:00:00Z"
#define HOUR_PREFIX "default/cpu/2025/01/15/14/"

static inline struct compaction_options opts(const struct jfix *f)
{
    struct compaction_options o;
    memset(&o, 0, sizeof(o));
    o.tiers[COMPACTION_HOURLY] = (struct compaction_tier_options){.enabled = true,
                                                                  .schedule = "5 * * * *",
                                                                  .min_age_hours = 1,
                                                                  .min_files = 10,
                                                                  .target_file_size_mb = 512};
    o.tiers[COMPACTION_DAILY] = (struct compaction_tier_options){.enabled = true,
                                                                 .schedule = "0 3 * * *",
                                                                 .min_age_hours = 24,
                                                                 .min_files = 12,
                                                                 .target_file_size_mb = 2048};
    o.max_concurrent_jobs = 2;
    o.max_files_per_batch = 30;
    o.settle_seconds = 0;
    o.lock_ttl_hours = 2;
    o.temp_dir = f->temp;
    o.compression = "zstd";
    o.compression_level = 3;
    o.retire_grace_ms = 0;
    o.duckdb_threads = 1;
    return o;
}

static inline struct compaction *start(struct jfix *f, const struct compaction_options *o)
{
    struct compaction *c = NULL;
    struct errbuf eb = {0};
    if (compaction_new(o, f->st, f->cat, &c, &eb) != RC_OK)
        fail_msg("compaction_new: %s", eb.msg);
    return c;
}

static inline void cycle(struct compaction *c, unsigned tiers)
{
    uint64_t id = 0;
    struct errbuf eb = {0};
    if (compaction_trigger(c, NULL, tiers, &id, &eb) != RC_OK)
        fail_msg("trigger: %s", eb.msg);
    assert_true(id > 0);
    assert_true(compaction_wait_idle(c, 60000));
}

static const char *const queries[] = {
    "SELECT count(*) FROM cpu",
    "SELECT * FROM cpu ORDER BY time",
    "SELECT host, region, count(*), sum(value), min(time), max(time), sum(count) FROM cpu "
    "GROUP BY ALL ORDER BY host, region NULLS FIRST",
    "SELECT time, host, value FROM cpu WHERE time >= '2025-01-15T14:10:00Z' AND "
    "time < '2025-01-15T14:12:30Z' ORDER BY time",
    "SELECT count(*), count(region), count(msg), sum(u), bool_or(ok), bool_and(ok) FROM cpu",
    "SELECT * FROM cpu ORDER BY time DESC LIMIT 7",
    "SELECT date_trunc('minute', time) AS m, count(*), avg(value) FROM cpu GROUP BY 1 ORDER BY 1",
};
#define NQ (sizeof(queries) / sizeof(queries[0]))

static inline void run_queries(struct jfix *f, char **out)
{
    for (size_t i = 0; i < NQ; i++)
        out[i] = jfix_query(f->qe, queries[i], NULL);
}

/* The same rows through plain read_parquet of the visible files. */
static inline char *raw_rows(struct jfix *f)
{
    char *list = jfix_visible_list(f, DB, M, NULL);
    struct strbuf sql;
    strbuf_init(&sql, 0);
    (void)strbuf_printf(&sql,
                        "SELECT time, host, region, value, count, ok, msg, u FROM "
                        "read_parquet(%s, union_by_name = true) ORDER BY time",
                        list);
    char *txt = jfix_duck(f->conn, sql.data, NULL);
    strbuf_cleanup(&sql);
    xfree(list);
    return txt;
}

/* Test main with JTEST_FILTER (one test) and JTEST_LOG (INFO logs). */
static inline int jtest_run(const struct CMUnitTest *tests, size_t n)
{
    log_configure(getenv("JTEST_LOG") ? LOG_INFO : LOG_WARN, LOG_FORMAT_TEXT, 0);
    if (getenv("JTEST_FILTER"))
        cmocka_set_test_filter(getenv("JTEST_FILTER"));
    return _cmocka_run_group_tests("tests", tests, n, NULL, NULL);
}

#endif
