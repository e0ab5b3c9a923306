/*
 * Unit tests for continuous queries (jobs/cq*.c, SPEC §8.2) with a real
 * DuckDB, catalog, write buffer, flush writer and query engine in a temp
 * directory (no HTTP):
 *   - 1-second data over 5 minutes → 1-minute means, equal to the direct
 *     SQL computation over the source (exact);
 *   - the watermark: re-executing a processed window writes nothing; a
 *     scheduler pass covers [last_processed_time, now truncated); across a
 *     restart (stores closed and reopened) no interval is processed twice;
 *   - dry run (executed_query with quoted RFC 3339 literals), window
 *     defaults and errors, inactive CQs;
 *   - definition validation, the read-only check, CRUD and the history;
 *   - result conversion: numeric `time` with unit inference, no `time`
 *     column, tag columns (arc:tags), missing tag column and type
 *     conflicts failing with a "failed" history entry.
 */
#include "cqdel_fixture.h"

#include <pthread.h>

#include "jobs/cq.h"
#include "jobs/scheduler.h"
#include "util/faults.h"
#include "util/json.h"
#include "util/jsonw.h"

/* Each test uses its own database (one fixture for the group: opening the
 * DuckDB engines dominates the run time). JSON bodies spell DB_LIT, which
 * create_json replaces with the test's database. */
#define DB_LIT "metrics"
static char g_db[32];
#define DB g_db
#define SRC "cpu_raw"
#define DST "cpu_1m"
#define T0 "2025-01-15T14:00:00Z"

static const char *const MEANS_QUERY =
    "SELECT time_bucket(INTERVAL '1 minute', time) AS time, host, avg(value) AS value_mean, "
    "count(*) AS n FROM " SRC " WHERE time >= {start_time} AND time < {end_time} "
    "GROUP BY ALL";

struct cqfx {
    struct fx f;
    struct cq_store *store;
    struct cq_service *svc;
};

static void open_svc(struct cqfx *c)
{
    struct errbuf eb = {0};
    if (cq_store_open(c->f.jobs_db, &c->store, &eb) != RC_OK)
        fail_msg("cq_store_open: %s", eb.msg);
    struct cq_service_options o = {.timeout_ms = 20000, .max_concurrent = 2};
    if (cq_service_new(&o, c->store, c->f.qe, c->f.cat, c->f.cb, c->f.fl, &c->svc, &eb) != RC_OK)
        fail_msg("cq_service_new: %s", eb.msg);
}

static void close_svc(struct cqfx *c)
{
    cq_service_free(&c->svc);
    assert_null(c->svc);
    cq_store_close(&c->store);
}

static int group_setup(void **state)
{
    struct cqfx *c = xcalloc(1, sizeof(*c));
    fx_open(&c->f);
    open_svc(c);
    *state = c;
    return 0;
}

static int group_teardown(void **state)
{
    struct cqfx *c = *state;
    close_svc(c);
    fx_close(&c->f);
    xfree(c);
    return 0;
}

/* Per test: a fresh database name and no continuous queries. */
static int setup(void **state)
{
    static int n;
    struct cqfx *c = *state;
    snprintf(g_db, sizeof(g_db), "metrics%d", ++n);
    struct cq_def *defs = NULL;
    size_t nd = 0;
    struct errbuf eb = {0};
    assert_int_equal(cq_store_list(c->store, NULL, -1, &defs, &nd, &eb), RC_OK);
    for (size_t i = 0; i < nd; i++)
        assert_int_equal(cq_store_delete(c->store, defs[i].id, &eb), RC_OK);
    cq_defs_free(&defs, nd);
    return 0;
}

/* Simulated restart: everything closed and reopened over the same files. */
static void restart(struct cqfx *c)
{
    close_svc(c);
    fx_close_stores(&c->f);
    fx_open_stores(&c->f);
    open_svc(c);
}

/* n rows of 1-second data from t0: host h<i%2>, value = i % 17 + 0.5
 * (multiples of 0.5: sums and means are exact in binary floating point). */
static void ingest_seconds(struct cqfx *c, int64_t t0, int first, int n)
{
    struct batch *b = batch_new(DB, SRC);
    enum col_type ex;
    int host = batch_col_get(b, "host", 4, COL_STRING, true, &ex);
    int val = batch_col_get(b, "value", 5, COL_DOUBLE, false, &ex);
    for (int i = first; i < first + n; i++) {
        size_t r = batch_row_add(b, t0 + (int64_t)i * US_PER_SEC);
        char h[8];
        snprintf(h, sizeof(h), "h%d", i % 2);
        batch_set_str(b, host, r, h, strlen(h));
        batch_set_f64(b, val, r, (double)(i % 17) + 0.5);
    }
    batch_seal(b);
    fx_admit(&c->f, b);
}

/* Creates a CQ from a JSON body; returns its id. */
static int64_t create_json(struct cqfx *c, const char *json_lit)
{
    /* "database": "metrics" -> the test's database. */
    struct strbuf jb;
    strbuf_init(&jb, 0);
    const char *needle = "\"database\": \"" DB_LIT "\"";
    const char *hit = strstr(json_lit, needle);
    if (hit) {
        assert_int_equal(strbuf_append(&jb, json_lit, (size_t)(hit - json_lit)), RC_OK);
        assert_int_equal(strbuf_printf(&jb, "\"database\": \"%s\"", DB), RC_OK);
        assert_int_equal(strbuf_puts(&jb, hit + strlen(needle)), RC_OK);
    } else {
        assert_int_equal(strbuf_puts(&jb, json_lit), RC_OK);
    }
    const char *json = jb.data;
    struct json_value *doc = NULL;
    struct errbuf eb = {0};
    assert_int_equal(json_parse(json, strlen(json), &doc, &eb), RC_OK);
    struct cq_def d;
    int rc = cq_def_from_json(doc, &d, &eb);
    json_free(&doc);
    if (rc != RC_OK)
        fail_msg("cq_def_from_json: %s", eb.msg);
    rc = cq_check_query(c->f.qe, &d, &eb);
    if (rc != RC_OK)
        fail_msg("cq_check_query: %s", eb.msg);
    assert_int_equal(cq_store_create(c->store, &d, &eb), RC_OK);
    int64_t id = d.id;
    assert_true(id > 0);
    cq_def_cleanup(&d);
    strbuf_cleanup(&jb);
    return id;
}

static int64_t create_means(struct cqfx *c, const char *name, const char *interval)
{
    char json[2048];
    struct strbuf q;
    strbuf_init(&q, 0);
    assert_int_equal(json_append_string(&q, MEANS_QUERY, strlen(MEANS_QUERY)), RC_OK);
    snprintf(json, sizeof(json),
             "{\"name\": \"%s\", \"database\": \"" DB_LIT "\", \"source_measurement\": \"" SRC
             "\", \"destination_measurement\": \"" DST "\", \"query\": %s, \"interval\": \"%s\", "
             "\"tag_columns\": [\"host\"]}",
             name, q.data, interval);
    strbuf_cleanup(&q);
    return create_json(c, json);
}

static int exec_window(struct cqfx *c, int64_t id, int64_t start, int64_t end, int64_t now,
                       struct cq_exec_result *res, struct errbuf *eb)
{
    struct cq_exec_request req = {.has_start = start != CQ_TIME_NONE,
                                  .has_end = end != CQ_TIME_NONE,
                                  .start_us = start,
                                  .end_us = end,
                                  .now_us = now};
    return cq_execute(c->svc, id, &req, res, eb);
}

static const char *const DIRECT_SQL =
    "SELECT time_bucket(INTERVAL '1 minute', time) AS time, host, avg(value), count(*)::BIGINT "
    "FROM " SRC " GROUP BY ALL ORDER BY 1, 2";
static const char *const DEST_SQL = "SELECT time, host, value_mean, n FROM " DST " ORDER BY 1, 2";

/* ---- downsampling ------------------------------------------------------------- */

static void test_downsample_equals_direct_sql(void **state)
{
    struct cqfx *c = *state;
    int64_t t0 = fx_t(T0);
    /* 5 minutes of 1-second data: the first 3 minutes flushed to Parquet,
     * the rest still buffered (queries and CQs see both). */
    ingest_seconds(c, t0, 0, 180);
    fx_flush(&c->f);
    ingest_seconds(c, t0, 180, 120);
    int64_t id = create_means(c, "means", "1m");

    struct cq_exec_result res;
    struct errbuf eb = {0};
    int rc = exec_window(c, id, t0, t0 + 5 * 60 * US_PER_SEC, t0 + 3600 * US_PER_SEC, &res, &eb);
    if (rc != RC_OK)
        fail_msg("execute: %s", eb.msg);
    assert_string_equal(res.status, "completed");
    assert_int_equal(res.records_written, 10); /* 5 minutes × 2 hosts */
    assert_false(res.failed);
    assert_int_equal(res.start_us, t0);
    assert_int_equal(res.end_us, t0 + 300 * US_PER_SEC);
    assert_string_equal(res.destination_measurement, DST);
    assert_int_equal(strncmp(res.execution_id, "cq-exec-", 8), 0);
    assert_int_equal(strlen(res.execution_id), 16);
    cq_exec_result_cleanup(&res);

    /* Flushed before returning: the destination has files already. */
    assert_true(fx_nfiles(&c->f, DB, DST) >= 1);
    char *direct = fx_rows(&c->f, DB, DIRECT_SQL);
    char *dest = fx_rows(&c->f, DB, DEST_SQL);
    assert_string_equal(dest, direct);
    /* Spot check one bucket by hand: minute 0, host h0 = even i in 0..58. */
    double sum = 0;
    for (int i = 0; i < 60; i += 2)
        sum += (double)(i % 17) + 0.5;
    char want[128];
    snprintf(want, sizeof(want), "2025-01-15T14:00:00Z|h0|%.17g|30\n", sum / 30);
    assert_int_equal(strncmp(dest, want, strlen(want)), 0);
    xfree(direct);
    xfree(dest);

    /* host is a tag of the destination (arc:tags), value_mean a float. */
    struct catalog_column *cols = NULL;
    size_t ncols = 0;
    catalog_schema_get(c->f.cat, DB, DST, &cols, &ncols);
    assert_int_equal(ncols, 3);
    assert_string_equal(cols[0].name, "host");
    assert_int_equal(cols[0].type, COL_STRING);
    assert_string_equal(cols[1].name, "n");
    assert_int_equal(cols[1].type, COL_INT64);
    assert_string_equal(cols[2].name, "value_mean");
    assert_int_equal(cols[2].type, COL_DOUBLE);
    catalog_columns_free(&cols);
    struct catalog_file_list fl;
    catalog_files_list(c->f.cat, DB, DST, INT64_MIN, INT64_MAX, &fl);
    char sql[2048];
    snprintf(sql, sizeof(sql),
             "SELECT decode(value) FROM parquet_kv_metadata('%s/%s') WHERE decode(key) = "
             "'arc:tags'",
             c->f.root, fl.files[0].key);
    catalog_file_list_free(&fl);
    duckdb_database ddb;
    duckdb_connection conn;
    assert_int_equal(duckdb_open(NULL, &ddb), DuckDBSuccess);
    assert_int_equal(duckdb_connect(ddb, &conn), DuckDBSuccess);
    duckdb_result r;
    assert_int_equal(duckdb_query(conn, sql, &r), DuckDBSuccess);
    assert_int_equal(duckdb_row_count(&r), 1);
    char *tags = duckdb_value_varchar(&r, 0, 0);
    assert_string_equal(tags, "host");
    duckdb_free(tags);
    duckdb_destroy_result(&r);
    duckdb_disconnect(&conn);
    duckdb_close(&ddb);

    /* State and history. */
    struct cq_def d;
    assert_int_equal(cq_store_get(c->store, id, &d, &eb), RC_OK);
    assert_int_equal(d.last_processed_time_us, t0 + 300 * US_PER_SEC);
    assert_string_equal(d.last_execution_status, "completed");
    assert_int_equal(d.last_records_written, 10);
    assert_int_equal(d.last_execution_time_us, t0 + 3600 * US_PER_SEC);
    cq_def_cleanup(&d);
    struct cq_execution *ex = NULL;
    size_t n = 0;
    assert_int_equal(cq_store_executions(c->store, id, 50, &ex, &n, &eb), RC_OK);
    assert_int_equal(n, 1);
    assert_string_equal(ex[0].status, "completed");
    assert_int_equal(ex[0].records_written, 10);
    assert_int_equal(ex[0].start_us, t0);
    assert_int_equal(ex[0].end_us, t0 + 300 * US_PER_SEC);
    assert_string_equal(ex[0].error_message, "");
    xfree(ex);
}

/* ---- watermark -------------------------------------------------------------------- */

static void test_watermark_no_double_processing(void **state)
{
    struct cqfx *c = *state;
    int64_t t0 = fx_t(T0), min = 60 * US_PER_SEC;
    ingest_seconds(c, t0, 0, 300);
    int64_t id = create_means(c, "wm", "1m");
    struct cq_exec_result res;
    struct errbuf eb = {0};
    int64_t now = t0 + 3600 * US_PER_SEC;

    assert_int_equal(exec_window(c, id, t0, t0 + 2 * min, now, &res, &eb), RC_OK);
    assert_int_equal(res.records_written, 4);
    cq_exec_result_cleanup(&res);

    /* The same window again: nothing runs, nothing is written. */
    assert_int_equal(exec_window(c, id, t0, t0 + 2 * min, now, &res, &eb), RC_OK);
    assert_true(res.nothing_to_do);
    assert_string_equal(res.status, "completed");
    assert_int_equal(res.records_written, 0);
    cq_exec_result_cleanup(&res);
    assert_int_equal(fx_count(&c->f, DB, "SELECT count(*) FROM " DST), 4);

    /* An overlapping window only processes the new part. */
    assert_int_equal(exec_window(c, id, t0, t0 + 3 * min, now, &res, &eb), RC_OK);
    assert_int_equal(res.start_us, t0 + 2 * min);
    assert_int_equal(res.records_written, 2);
    cq_exec_result_cleanup(&res);

    /* Scheduler pass at 14:04:05: window [14:03, 14:04). */
    size_t ran = 0;
    assert_int_equal(cq_run_due(c->svc, t0 + 4 * min + 5 * US_PER_SEC, &ran, &eb), RC_OK);
    assert_int_equal(ran, 1);
    assert_int_equal(fx_count(&c->f, DB, "SELECT count(*) FROM " DST), 8);

    /* Restart: the watermark survives; a pass within the same interval
     * has nothing to do. */
    restart(c);
    struct cq_def d;
    assert_int_equal(cq_store_get(c->store, id, &d, &eb), RC_OK);
    assert_int_equal(d.last_processed_time_us, t0 + 4 * min);
    cq_def_cleanup(&d);
    assert_int_equal(cq_run_due(c->svc, t0 + 4 * min + 50 * US_PER_SEC, &ran, &eb), RC_OK);
    assert_int_equal(ran, 0);
    assert_int_equal(cq_run_due(c->svc, t0 + 6 * min + 1, &ran, &eb), RC_OK);
    assert_int_equal(ran, 1);
    /* Again after the restart: nothing new. */
    restart(c);
    assert_int_equal(cq_run_due(c->svc, t0 + 6 * min + 2, &ran, &eb), RC_OK);
    assert_int_equal(ran, 0);

    /* Every bucket exactly once, equal to the direct computation. */
    char *direct = fx_rows(&c->f, DB, DIRECT_SQL);
    char *dest = fx_rows(&c->f, DB, DEST_SQL);
    assert_string_equal(dest, direct);
    xfree(direct);
    xfree(dest);
    assert_int_equal(fx_count(&c->f, DB, "SELECT count(*) FROM " DST), 10);

    struct cq_execution *ex = NULL;
    size_t n = 0;
    assert_int_equal(cq_store_executions(c->store, id, 50, &ex, &n, &eb), RC_OK);
    assert_int_equal(n, 4);                         /* 2 manual runs with work, 2 scheduled */
    assert_int_equal(ex[0].start_us, t0 + 4 * min); /* newest first */
    assert_int_equal(ex[0].end_us, t0 + 6 * min);
    assert_int_equal(ex[3].start_us, t0);
    xfree(ex);
    assert_int_equal(cq_store_executions(c->store, id, 2, &ex, &n, &eb), RC_OK);
    assert_int_equal(n, 2);
    xfree(ex);
}

static void test_scheduler_first_run_and_inactive(void **state)
{
    struct cqfx *c = *state;
    int64_t t0 = fx_t(T0), min = 60 * US_PER_SEC;
    ingest_seconds(c, t0, 0, 300);
    int64_t id = create_means(c, "sched", "1m");
    struct errbuf eb = {0};
    size_t ran = 0;
    /* Never ran: one interval before the truncated now. */
    assert_int_equal(cq_run_due(c->svc, t0 + 2 * min + 30 * US_PER_SEC, &ran, &eb), RC_OK);
    assert_int_equal(ran, 1);
    assert_int_equal(fx_count(&c->f, DB, "SELECT count(*) FROM " DST), 2);
    assert_int_equal(
        fx_count(&c->f, DB, "SELECT count(*) FROM " DST " WHERE time = '2025-01-15T14:01:00Z'"), 2);
    /* Deactivate: the scheduler skips it, manual execution is refused. */
    struct cq_def d;
    assert_int_equal(cq_store_get(c->store, id, &d, &eb), RC_OK);
    d.is_active = false;
    assert_int_equal(cq_store_update(c->store, id, &d, &eb), RC_OK);
    assert_int_equal(d.last_processed_time_us, t0 + 2 * min); /* state kept by PUT */
    cq_def_cleanup(&d);
    assert_int_equal(cq_run_due(c->svc, t0 + 5 * min, &ran, &eb), RC_OK);
    assert_int_equal(ran, 0);
    struct cq_exec_result res;
    assert_int_equal(exec_window(c, id, CQ_TIME_NONE, CQ_TIME_NONE, t0 + 5 * min, &res, &eb),
                     RC_INVALID);
    assert_non_null(strstr(eb.msg, "not active"));
    cq_exec_result_cleanup(&res);
}

/* ---- dry run and window rules ------------------------------------------------------ */

static void test_dry_run_and_windows(void **state)
{
    struct cqfx *c = *state;
    int64_t t0 = fx_t(T0);
    ingest_seconds(c, t0, 0, 60);
    int64_t id = create_means(c, "dry", "1h");
    struct cq_exec_result res;
    struct errbuf eb = {0};
    struct cq_exec_request req = {.has_start = true,
                                  .has_end = true,
                                  .start_us = fx_t("2025-10-20T00:00:00Z"),
                                  .end_us = fx_t("2025-10-20T01:00:00.5Z"),
                                  .dry_run = true};
    assert_int_equal(cq_execute(c->svc, id, &req, &res, &eb), RC_OK);
    assert_string_equal(res.status, "dry_run");
    assert_true(res.dry_run);
    assert_int_equal(res.records_written, 0);
    assert_non_null(res.executed_query);
    assert_non_null(strstr(res.executed_query, "time >= '2025-10-20T00:00:00Z' AND time < "
                                               "'2025-10-20T01:00:00.5Z'"));
    assert_null(strstr(res.executed_query, "{start_time}"));
    cq_exec_result_cleanup(&res);
    assert_int_equal(fx_nfiles(&c->f, DB, DST), 0);
    struct cq_execution *ex = NULL;
    size_t n = 9;
    assert_int_equal(cq_store_executions(c->store, id, 50, &ex, &n, &eb), RC_OK);
    assert_int_equal(n, 0); /* dry runs are not history */
    xfree(ex);

    /* Defaults: never ran → [now - 1h, now). */
    int64_t now = fx_t("2025-01-15T15:00:30Z");
    struct cq_exec_request d0 = {.dry_run = true, .now_us = now};
    assert_int_equal(cq_execute(c->svc, id, &d0, &res, &eb), RC_OK);
    assert_int_equal(res.start_us, now - US_PER_HOUR);
    assert_int_equal(res.end_us, now);
    assert_int_equal(res.executed_at_us, now);
    cq_exec_result_cleanup(&res);

    /* start >= end, unknown id. */
    assert_int_equal(exec_window(c, id, t0, t0, now, &res, &eb), RC_INVALID);
    cq_exec_result_cleanup(&res);
    errbuf_clear(&eb);
    assert_int_equal(exec_window(c, id, t0 + 10, t0, now, &res, &eb), RC_INVALID);
    cq_exec_result_cleanup(&res);
    errbuf_clear(&eb);
    assert_int_equal(exec_window(c, 999, t0, t0 + 10, now, &res, &eb), RC_NOT_FOUND);
    cq_exec_result_cleanup(&res);

    /* After a real run, the default start is last_processed_time. */
    errbuf_clear(&eb);
    assert_int_equal(exec_window(c, id, t0, t0 + 60 * US_PER_SEC, now, &res, &eb), RC_OK);
    assert_int_equal(res.records_written, 2);
    cq_exec_result_cleanup(&res);
    assert_int_equal(cq_execute(c->svc, id, &d0, &res, &eb), RC_OK);
    assert_int_equal(res.start_us, t0 + 60 * US_PER_SEC);
    cq_exec_result_cleanup(&res);
}

/* ---- validation --------------------------------------------------------------------- */

static int def_rc(const char *json, char *msg, size_t cap)
{
    struct json_value *doc = NULL;
    struct errbuf eb = {0};
    if (json_parse(json, strlen(json), &doc, &eb) != RC_OK)
        fail_msg("bad test JSON: %s", json);
    struct cq_def d;
    int rc = cq_def_from_json(doc, &d, &eb);
    json_free(&doc);
    cq_def_cleanup(&d);
    snprintf(msg, cap, "%s", eb.msg);
    return rc;
}

#define BASE_FIELDS                                                                                \
    "\"database\": \"db\", \"source_measurement\": \"a\", \"destination_measurement\": \"b\""
#define Q "\"query\": \"SELECT 1 AS x WHERE {start_time} < {end_time}\""

static void expect_invalid(const char *json, const char *needle)
{
    char msg[ERRBUF_SIZE];
    int rc = def_rc(json, msg, sizeof(msg));
    if (rc != RC_INVALID || !strstr(msg, needle))
        fail_msg("expected RC_INVALID with '%s' for %s, got %s '%s'", needle, json, rc_name(rc),
                 msg);
}

static void test_definition_validation(void **state)
{
    (void)state;
    char msg[ERRBUF_SIZE];
    assert_int_equal(def_rc("{\"name\": \"ok\", " BASE_FIELDS ", " Q ", \"interval\": \"15m\"}",
                            msg, sizeof(msg)),
                     RC_OK);
    expect_invalid("[]", "JSON object");
    expect_invalid("{" BASE_FIELDS ", " Q ", \"interval\": \"1h\"}", "name is required");
    expect_invalid("{\"name\": \"\", " BASE_FIELDS ", " Q ", \"interval\": \"1h\"}",
                   "name must not be empty");
    expect_invalid("{\"name\": 5, " BASE_FIELDS ", " Q ", \"interval\": \"1h\"}",
                   "name must be a string");
    expect_invalid("{\"name\": \"x\", \"database\": \"1db\", \"source_measurement\": \"a\", "
                   "\"destination_measurement\": \"b\", " Q ", \"interval\": \"1h\"}",
                   "invalid database");
    expect_invalid("{\"name\": \"x\", \"database\": \"db\", \"source_measurement\": \"a/b\", "
                   "\"destination_measurement\": \"b\", " Q ", \"interval\": \"1h\"}",
                   "invalid source_measurement");
    expect_invalid("{\"name\": \"x\", \"database\": \"db\", \"source_measurement\": \"a\", "
                   "\"destination_measurement\": \"a\", " Q ", \"interval\": \"1h\"}",
                   "must differ");
    expect_invalid("{\"name\": \"x\", " BASE_FIELDS ", \"query\": \"SELECT 1 WHERE "
                   "{start_time}\", \"interval\": \"1h\"}",
                   "{end_time}");
    expect_invalid("{\"name\": \"x\", " BASE_FIELDS ", \"interval\": \"1h\"}", "query is required");
    const char *bad_intervals[] = {"0h", "01h", "1x", "h", "1", "1 h", "1hh", "-1h", "1.5h", ""};
    for (size_t i = 0; i < sizeof(bad_intervals) / sizeof(bad_intervals[0]); i++) {
        char json[512];
        snprintf(json, sizeof(json),
                 "{\"name\": \"x\", " BASE_FIELDS ", " Q ", \"interval\": \"%s\"}",
                 bad_intervals[i]);
        expect_invalid(json, "interval");
    }
    int64_t us;
    assert_true(cq_interval_parse("1s", &us));
    assert_int_equal(us, US_PER_SEC);
    assert_true(cq_interval_parse("90m", &us));
    assert_int_equal(us, 90 * 60 * US_PER_SEC);
    assert_true(cq_interval_parse("2w", &us));
    assert_int_equal(us, 14 * US_PER_DAY);
    assert_false(cq_interval_parse("99999999999999999999d", &us));
    expect_invalid("{\"name\": \"x\", " BASE_FIELDS ", " Q
                   ", \"interval\": \"1h\", \"tag_columns\": \"host\"}",
                   "tag_columns must be an array");
    expect_invalid("{\"name\": \"x\", " BASE_FIELDS ", " Q
                   ", \"interval\": \"1h\", \"tag_columns\": [\"Time\"]}",
                   "must not contain 'time'");
    expect_invalid("{\"name\": \"x\", " BASE_FIELDS ", " Q
                   ", \"interval\": \"1h\", \"tag_columns\": [\"a\", \"a\"]}",
                   "twice");
    expect_invalid("{\"name\": \"x\", " BASE_FIELDS ", " Q
                   ", \"interval\": \"1h\", \"tag_columns\": [\"\"]}",
                   "not a valid column name");
    expect_invalid("{\"name\": \"x\", " BASE_FIELDS ", " Q
                   ", \"interval\": \"1h\", \"retention_days\": 0}",
                   "retention_days must be an integer greater than 0");
    expect_invalid("{\"name\": \"x\", " BASE_FIELDS ", " Q
                   ", \"interval\": \"1h\", \"delete_source_after_days\": 1.5}",
                   "delete_source_after_days");
    expect_invalid("{\"name\": \"x\", " BASE_FIELDS ", " Q
                   ", \"interval\": \"1h\", \"is_active\": \"yes\"}",
                   "is_active must be a boolean");

    /* Optional fields parsed. */
    struct json_value *doc = NULL;
    struct errbuf eb = {0};
    const char *full = "{\"name\": \"full\", \"description\": \"d\", " BASE_FIELDS ", " Q
                       ", \"interval\": \"1d\", \"tag_columns\": [\"host\", \"région\"], "
                       "\"retention_days\": 30, \"delete_source_after_days\": 7, "
                       "\"is_active\": false, \"unknown\": 1}";
    assert_int_equal(json_parse(full, strlen(full), &doc, &eb), RC_OK);
    struct cq_def d;
    assert_int_equal(cq_def_from_json(doc, &d, &eb), RC_OK);
    json_free(&doc);
    assert_string_equal(d.description, "d");
    assert_int_equal(d.interval_us, US_PER_DAY);
    assert_int_equal(d.n_tag_columns, 2);
    assert_string_equal(d.tag_columns[1], "région");
    assert_int_equal(d.retention_days, 30);
    assert_int_equal(d.delete_source_after_days, 7);
    assert_false(d.is_active);
    assert_int_equal(d.last_processed_time_us, CQ_TIME_NONE);
    cq_def_cleanup(&d);
}

static int check_sql(struct cqfx *c, const char *query, char *msg, size_t cap)
{
    struct cq_def d;
    memset(&d, 0, sizeof(d));
    d.database = (char *)DB;
    d.query = (char *)query;
    struct errbuf eb = {0};
    int rc = cq_check_query(c->f.qe, &d, &eb);
    snprintf(msg, cap, "%s", eb.msg);
    return rc;
}

static void test_read_only_check(void **state)
{
    struct cqfx *c = *state;
    ingest_seconds(c, fx_t(T0), 0, 10);
    char msg[ERRBUF_SIZE];
    assert_int_equal(check_sql(c, MEANS_QUERY, msg, sizeof(msg)), RC_OK);
    /* A measurement with no data yet is fine (the CQ may come first). */
    assert_int_equal(check_sql(c,
                               "SELECT * FROM nothing_yet WHERE time >= {start_time} AND time < "
                               "{end_time}",
                               msg, sizeof(msg)),
                     RC_OK);
    struct {
        const char *sql, *needle;
    } bad[] = {
        {"DELETE FROM " SRC " WHERE time >= {start_time} AND time < {end_time}", "read-only"},
        {"INSERT INTO " SRC " SELECT * FROM " SRC " WHERE time >= {start_time} AND time < "
         "{end_time}",
         "read-only"},
        {"SELECT 1 WHERE {start_time} < {end_time}; DROP TABLE x", "invalid query"},
        {"COPY (SELECT 1 WHERE {start_time} < {end_time}) TO '/tmp/x.csv'", "invalid query"},
        {"EXPLAIN SELECT 1 WHERE {start_time} < {end_time}", "invalid query"},
        {"SELECT * FROM read_csv('/etc/passwd') WHERE {start_time} < {end_time}", "invalid query"},
        {"SELEC nonsense {start_time} {end_time}", "invalid query"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = check_sql(c, bad[i].sql, msg, sizeof(msg));
        if (rc != RC_INVALID || !strstr(msg, bad[i].needle))
            fail_msg("expected RC_INVALID '%s' for %s, got %s '%s'", bad[i].needle, bad[i].sql,
                     rc_name(rc), msg);
    }
}

/* ---- CRUD -------------------------------------------------------------------------- */

static void test_crud(void **state)
{
    struct cqfx *c = *state;
    struct errbuf eb = {0};
    int64_t a = create_means(c, "a", "1h");
    int64_t b = create_json(c, "{\"name\": \"b\", \"database\": \"other\", \"source_measurement\": "
                               "\"x\", \"destination_measurement\": \"y\", " Q
                               ", \"interval\": \"5m\", \"is_active\": false}");
    assert_true(b > a);

    /* Duplicate name. */
    struct json_value *doc = NULL;
    const char *dup = "{\"name\": \"a\", " BASE_FIELDS ", " Q ", \"interval\": \"1h\"}";
    assert_int_equal(json_parse(dup, strlen(dup), &doc, &eb), RC_OK);
    struct cq_def d;
    assert_int_equal(cq_def_from_json(doc, &d, &eb), RC_OK);
    json_free(&doc);
    assert_int_equal(cq_store_create(c->store, &d, &eb), RC_EXISTS);
    assert_non_null(strstr(eb.msg, "already exists"));

    /* Filters. */
    struct cq_def *list = NULL;
    size_t n = 0;
    assert_int_equal(cq_store_list(c->store, NULL, -1, &list, &n, &eb), RC_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].name, "a");
    assert_int_equal(list[0].n_tag_columns, 1);
    assert_string_equal(list[0].tag_columns[0], "host");
    assert_int_equal(list[0].interval_us, US_PER_HOUR);
    assert_null(list[0].description);
    cq_defs_free(&list, n);
    assert_int_equal(cq_store_list(c->store, "other", -1, &list, &n, &eb), RC_OK);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].name, "b");
    cq_defs_free(&list, n);
    assert_int_equal(cq_store_list(c->store, NULL, 1, &list, &n, &eb), RC_OK);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].name, "a");
    cq_defs_free(&list, n);
    assert_int_equal(cq_store_list(c->store, "none", -1, &list, &n, &eb), RC_OK);
    assert_int_equal(n, 0);
    assert_null(list);

    /* Full replacement; renaming onto an existing name is a conflict. */
    errbuf_clear(&eb);
    assert_int_equal(cq_store_update(c->store, b, &d, &eb), RC_EXISTS);
    cq_def_cleanup(&d);
    assert_int_equal(cq_store_get(c->store, b, &d, &eb), RC_OK);
    xfree(d.name);
    d.name = xstrdup("b2");
    d.is_active = true;
    assert_int_equal(cq_store_update(c->store, b, &d, &eb), RC_OK);
    assert_string_equal(d.name, "b2");
    assert_true(d.is_active);
    assert_true(d.updated_at_us >= d.created_at_us);
    errbuf_clear(&eb);
    assert_int_equal(cq_store_update(c->store, 12345, &d, &eb), RC_NOT_FOUND);
    cq_def_cleanup(&d);

    /* Delete: gone with its history. */
    errbuf_clear(&eb);
    assert_int_equal(cq_store_delete(c->store, b, &eb), RC_OK);
    assert_int_equal(cq_store_get(c->store, b, &d, &eb), RC_NOT_FOUND);
    errbuf_clear(&eb);
    assert_int_equal(cq_store_delete(c->store, b, &eb), RC_NOT_FOUND);
    struct cq_execution e = {.query_id = b, .status = "completed", .end_us = 1};
    errbuf_clear(&eb);
    assert_int_equal(cq_store_record(c->store, &e, &eb), RC_NOT_FOUND);
}

/* ---- result conversion --------------------------------------------------------------- */

static void test_numeric_time_and_no_time(void **state)
{
    struct cqfx *c = *state;
    int64_t t0 = fx_t(T0);
    ingest_seconds(c, t0, 0, 120);
    /* time as epoch milliseconds (unit inferred), count as BIGINT. */
    int64_t ms = create_json(
        c, "{\"name\": \"ms\", \"database\": \"" DB_LIT "\", \"source_measurement\": \"" SRC
           "\", \"destination_measurement\": \"by_ms\", \"query\": \"SELECT "
           "epoch_ms(time_bucket(INTERVAL '1 minute', time)) AS time, count(*) AS n, "
           "max(value) > 10 AS hot, sum(value)::DECIMAL(18,2) AS total, '2025-01-01'::DATE AS d "
           "FROM " SRC " WHERE time >= {start_time} AND time < {end_time} GROUP BY 1\", "
           "\"interval\": \"1h\"}");
    struct cq_exec_result res;
    struct errbuf eb = {0};
    assert_int_equal(exec_window(c, ms, t0, t0 + US_PER_HOUR, t0 + US_PER_HOUR, &res, &eb), RC_OK);
    assert_int_equal(res.records_written, 2);
    cq_exec_result_cleanup(&res);
    char *rows = fx_rows(&c->f, DB, "SELECT time, n, hot, total, d FROM by_ms ORDER BY time");
    double s0 = 0, s1 = 0;
    for (int i = 0; i < 60; i++)
        s0 += (double)(i % 17) + 0.5;
    for (int i = 60; i < 120; i++)
        s1 += (double)(i % 17) + 0.5;
    char want[512];
    snprintf(want, sizeof(want),
             "2025-01-15T14:00:00Z|60|true|%.17g|2025-01-01\n"
             "2025-01-15T14:01:00Z|60|true|%.17g|2025-01-01\n",
             s0, s1);
    assert_string_equal(rows, want);
    xfree(rows);

    /* No time column: every row gets the execution time. */
    int64_t nt = create_json(
        c, "{\"name\": \"nt\", \"database\": \"" DB_LIT "\", \"source_measurement\": \"" SRC
           "\", \"destination_measurement\": \"totals\", \"query\": \"SELECT "
           "count(*) AS n FROM " SRC " WHERE time >= {start_time} AND time < {end_time}\", "
           "\"interval\": \"1h\"}");
    int64_t at = fx_t("2025-01-16T00:00:00Z");
    assert_int_equal(exec_window(c, nt, t0, t0 + US_PER_HOUR, at, &res, &eb), RC_OK);
    assert_int_equal(res.records_written, 1);
    cq_exec_result_cleanup(&res);
    rows = fx_rows(&c->f, DB, "SELECT time, n FROM totals");
    assert_string_equal(rows, "2025-01-16T00:00:00Z|120\n");
    xfree(rows);

    /* A window without rows succeeds with 0 rows and moves the watermark. */
    assert_int_equal(exec_window(c, nt, t0 + US_PER_HOUR, t0 + 2 * US_PER_HOUR, at, &res, &eb),
                     RC_OK);
    assert_int_equal(res.records_written, 1); /* count(*) = 0 is still one row */
    cq_exec_result_cleanup(&res);
    rows = fx_rows(&c->f, DB, "SELECT n FROM totals ORDER BY n");
    assert_string_equal(rows, "0\n120\n");
    xfree(rows);
}

static void test_failures_recorded(void **state)
{
    struct cqfx *c = *state;
    int64_t t0 = fx_t(T0);
    ingest_seconds(c, t0, 0, 60);
    struct errbuf eb = {0};
    /* A tag column the query does not return. */
    int64_t id = create_json(
        c, "{\"name\": \"tagless\", \"database\": \"" DB_LIT "\", \"source_measurement\": \"" SRC
           "\", \"destination_measurement\": \"t1\", \"query\": \"SELECT count(*) AS n FROM " SRC
           " WHERE time >= {start_time} AND time < {end_time}\", \"interval\": \"1h\", "
           "\"tag_columns\": [\"region\"]}");
    struct cq_exec_result res;
    int rc = exec_window(c, id, t0, t0 + US_PER_HOUR, t0 + US_PER_HOUR, &res, &eb);
    assert_int_not_equal(rc, RC_OK);
    assert_true(res.failed);
    assert_string_equal(res.status, "failed");
    assert_non_null(strstr(eb.msg, "region"));
    cq_exec_result_cleanup(&res);
    struct cq_def d;
    assert_int_equal(cq_store_get(c->store, id, &d, &eb), RC_OK);
    assert_string_equal(d.last_execution_status, "failed");
    assert_int_equal(d.last_processed_time_us, CQ_TIME_NONE); /* not advanced */
    cq_def_cleanup(&d);
    struct cq_execution *ex = NULL;
    size_t n = 0;
    assert_int_equal(cq_store_executions(c->store, id, 10, &ex, &n, &eb), RC_OK);
    assert_int_equal(n, 1);
    assert_string_equal(ex[0].status, "failed");
    assert_non_null(strstr(ex[0].error_message, "region"));
    xfree(ex);
    assert_int_equal(fx_nfiles(&c->f, DB, "t1"), 0);

    /* Type conflict with the destination's schema: `n` is a string there. */
    struct batch *b = batch_new(DB, "t2");
    enum col_type ex2;
    int col = batch_col_get(b, "n", 1, COL_STRING, false, &ex2);
    size_t r = batch_row_add(b, t0);
    batch_set_str(b, col, r, "x", 1);
    batch_seal(b);
    fx_admit(&c->f, b);
    int64_t id2 = create_json(
        c, "{\"name\": \"conflict\", \"database\": \"" DB_LIT "\", \"source_measurement\": \"" SRC
           "\", \"destination_measurement\": \"t2\", \"query\": \"SELECT count(*) AS n FROM " SRC
           " WHERE time >= {start_time} AND time < {end_time}\", \"interval\": \"1h\"}");
    errbuf_clear(&eb);
    rc = exec_window(c, id2, t0, t0 + US_PER_HOUR, t0 + US_PER_HOUR, &res, &eb);
    assert_int_equal(rc, RC_INVALID);
    assert_true(res.failed);
    assert_non_null(strstr(eb.msg, "column 'n'"));
    cq_exec_result_cleanup(&res);
    assert_int_equal(fx_count(&c->f, DB, "SELECT count(*) FROM t2"), 1);

    /* Integers into an existing float column are converted. */
    b = batch_new(DB, "t3");
    col = batch_col_get(b, "n", 1, COL_DOUBLE, false, &ex2);
    r = batch_row_add(b, t0 - US_PER_HOUR);
    batch_set_f64(b, col, r, 0.25);
    batch_seal(b);
    fx_admit(&c->f, b);
    int64_t id3 = create_json(
        c, "{\"name\": \"widen\", \"database\": \"" DB_LIT "\", \"source_measurement\": \"" SRC
           "\", \"destination_measurement\": \"t3\", \"query\": \"SELECT "
           "time_bucket(INTERVAL '1 hour', time) AS time, count(*) AS n FROM " SRC
           " WHERE time >= {start_time} AND time < {end_time} GROUP BY 1\", \"interval\": \"1h\"}");
    errbuf_clear(&eb);
    assert_int_equal(exec_window(c, id3, t0, t0 + US_PER_HOUR, t0 + US_PER_HOUR, &res, &eb), RC_OK);
    cq_exec_result_cleanup(&res);
    char *rows = fx_rows(&c->f, DB, "SELECT n FROM t3 ORDER BY time");
    assert_string_equal(rows, "0.25\n60\n");
    xfree(rows);

    /* An injected failure is recorded like any other. */
    setenv("ARC_TEST_FAULTS", "cq_fail", 1);
    faults_reload();
    errbuf_clear(&eb);
    rc = exec_window(c, id3, t0 + US_PER_HOUR, t0 + 2 * US_PER_HOUR, t0, &res, &eb);
    unsetenv("ARC_TEST_FAULTS");
    faults_reload();
    assert_int_equal(rc, RC_INTERNAL);
    assert_true(res.failed);
    cq_exec_result_cleanup(&res);
}

/* The real scheduler thread drives the worker: a 1-second CQ runs on its
 * own, each run over the interval after the previous one. */
static void test_scheduler_thread(void **state)
{
    struct cqfx *c = *state;
    ingest_seconds(c, fx_t(T0), 0, 1);
    int64_t id = create_json(c, "{\"name\": \"tick\", \"database\": \"" DB_LIT
                                "\", \"source_measurement\": \"" SRC
                                "\", \"destination_measurement\": \"ticks\", \"query\": "
                                "\"SELECT count(*) AS n FROM " SRC
                                " WHERE time >= {start_time} AND time < {end_time}\", "
                                "\"interval\": \"1s\"}");
    struct scheduler *sched = NULL;
    struct errbuf eb = {0};
    assert_int_equal(scheduler_start(&sched, &eb), RC_OK);
    assert_int_equal(cq_service_start_scheduler(c->svc, sched, &eb), RC_OK);
    struct cq_execution *ex = NULL;
    size_t n = 0;
    for (int i = 0; i < 100 && n < 2; i++) {
        time_sleep_ms(100);
        xfree(ex);
        assert_int_equal(cq_store_executions(c->store, id, 50, &ex, &n, &eb), RC_OK);
    }
    assert_true(n >= 2);
    /* Consecutive windows, each one interval long and aligned. */
    assert_int_equal(ex[0].start_us, ex[1].end_us);
    assert_int_equal(ex[0].end_us % US_PER_SEC, 0);
    assert_string_equal(ex[0].status, "completed");
    xfree(ex);
    /* Stopped: no more runs, manual runs refused. */
    cq_service_stop(c->svc);
    assert_int_equal(cq_store_executions(c->store, id, 1000, &ex, &n, &eb), RC_OK);
    xfree(ex);
    size_t before = n;
    time_sleep_ms(1300);
    assert_int_equal(cq_store_executions(c->store, id, 1000, &ex, &n, &eb), RC_OK);
    xfree(ex);
    assert_int_equal(n, before);
    struct cq_exec_result res;
    assert_int_equal(exec_window(c, id, CQ_TIME_NONE, CQ_TIME_NONE, 0, &res, &eb), RC_SHUTDOWN);
    cq_exec_result_cleanup(&res);
    scheduler_stop(&sched);
    /* A fresh service for the tests that follow. */
    cq_service_free(&c->svc);
    struct cq_service_options o = {.timeout_ms = 20000, .max_concurrent = 2};
    assert_int_equal(
        cq_service_new(&o, c->store, c->f.qe, c->f.cat, c->f.cb, c->f.fl, &c->svc, &eb), RC_OK);
}

struct bg_exec {
    struct cq_service *svc;
    int64_t id, start, end;
    int rc;
};

static void *bg_exec_main(void *arg)
{
    struct bg_exec *b = arg;
    struct cq_exec_request req = {
        .has_start = true, .has_end = true, .start_us = b->start, .end_us = b->end};
    struct cq_exec_result res;
    struct errbuf eb = {0};
    b->rc = cq_execute(b->svc, b->id, &req, &res, &eb);
    cq_exec_result_cleanup(&res);
    return NULL;
}

/* One run per CQ at a time (409) and at most max_concurrent runs (503). A
 * run is held in flight by keeping every pooled query connection busy. */
static void test_concurrency_limits(void **state)
{
    struct cqfx *c = *state;
    int64_t t0 = fx_t(T0);
    ingest_seconds(c, t0, 0, 60);
    int64_t a = create_means(c, "ca", "1h");
    int64_t b = create_json(c, "{\"name\": \"cb\", \"database\": \"" DB_LIT
                               "\", \"source_measurement\": \"" SRC
                               "\", \"destination_measurement\": \"cb_out\", \"query\": "
                               "\"SELECT count(*) AS n FROM " SRC
                               " WHERE time >= {start_time} AND time < {end_time}\", "
                               "\"interval\": \"1h\"}");
    struct cq_service *one = NULL;
    struct errbuf eb = {0};
    struct cq_service_options o = {.timeout_ms = 20000, .max_concurrent = 1};
    assert_int_equal(cq_service_new(&o, c->store, c->f.qe, c->f.cat, c->f.cb, c->f.fl, &one, &eb),
                     RC_OK);
    /* Occupy the query pool (2 connections). */
    struct query_cursor *hold[2] = {NULL, NULL};
    for (int i = 0; i < 2; i++) {
        struct query_request q = {.sql = "SELECT 1"};
        assert_int_equal(query_execute(c->f.qe, &q, &hold[i], &eb), RC_OK);
    }
    struct bg_exec bg = {.svc = one, .id = a, .start = t0, .end = t0 + US_PER_HOUR};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, bg_exec_main, &bg), 0);
    for (int i = 0; i < 500 && cq_service_running(one) == 0; i++)
        time_sleep_ms(10); /* until the background run holds its slot */
    assert_int_equal(cq_service_running(one), 1);
    struct cq_exec_result res;
    /* Same service: the CQ is running; another CQ finds no free slot. */
    errbuf_clear(&eb);
    struct cq_exec_request req = {
        .has_start = true, .has_end = true, .start_us = t0, .end_us = t0 + US_PER_HOUR};
    assert_int_equal(cq_execute(one, a, &req, &res, &eb), RC_EXISTS);
    assert_false(res.failed);
    cq_exec_result_cleanup(&res);
    errbuf_clear(&eb);
    assert_int_equal(cq_execute(one, b, &req, &res, &eb), RC_BUSY);
    assert_non_null(strstr(eb.msg, "max_concurrent"));
    cq_exec_result_cleanup(&res);
    /* Dry runs need no slot. */
    req.dry_run = true;
    errbuf_clear(&eb);
    assert_int_equal(cq_execute(one, b, &req, &res, &eb), RC_OK);
    cq_exec_result_cleanup(&res);
    for (int i = 0; i < 2; i++)
        query_cursor_close(&hold[i]);
    pthread_join(th, NULL);
    assert_int_equal(bg.rc, RC_OK);
    cq_service_free(&one);
    /* Exactly one run of the window happened. */
    struct cq_execution *ex = NULL;
    size_t n = 0;
    assert_int_equal(cq_store_executions(c->store, a, 50, &ex, &n, &eb), RC_OK);
    assert_int_equal(n, 1);
    xfree(ex);
    assert_int_equal(fx_count(&c->f, DB, "SELECT count(*) FROM " DST), 2);
}

/* Fake WAL: counts calls; prepare fails with fail_rc when set. */
struct fake_wal {
    int prepares, commits, aborts;
    size_t rows;
    int fail_rc;
};
static int fw_token;

static int fw_prepare(void *ctx, struct batch *const *b, size_t n, void **ticket, struct errbuf *eb)
{
    struct fake_wal *w = ctx;
    w->prepares++;
    if (w->fail_rc)
        return errbuf_set(eb, w->fail_rc, "fake WAL degraded");
    for (size_t i = 0; i < n; i++)
        w->rows += b[i]->nrows;
    *ticket = &fw_token;
    return RC_OK;
}

static struct fake_wal *fw_current;

static int fw_commit(void **ticket, struct errbuf *eb)
{
    (void)eb;
    assert_ptr_equal(*ticket, &fw_token);
    *ticket = NULL;
    fw_current->commits++;
    return RC_OK;
}

static void fw_abort(void **ticket)
{
    *ticket = NULL;
    fw_current->aborts++;
}

/* CQ output goes through the WAL hooks like any write (SPEC §6). */
static void test_wal_hooks(void **state)
{
    struct cqfx *c = *state;
    int64_t t0 = fx_t(T0);
    ingest_seconds(c, t0, 0, 180);
    int64_t id = create_means(c, "walled", "1m");
    struct fake_wal w = {0};
    fw_current = &w;
    struct cq_service_options o = {.timeout_ms = 20000,
                                   .max_concurrent = 1,
                                   .wal_prepare = fw_prepare,
                                   .wal_commit = fw_commit,
                                   .wal_abort = fw_abort,
                                   .wal_ctx = &w};
    struct cq_service *svc = NULL;
    struct errbuf eb = {0};
    assert_int_equal(cq_service_new(&o, c->store, c->f.qe, c->f.cat, c->f.cb, c->f.fl, &svc, &eb),
                     RC_OK);
    struct cq_exec_request req = {
        .has_start = true, .has_end = true, .start_us = t0, .end_us = t0 + 120 * US_PER_SEC};
    struct cq_exec_result res;
    assert_int_equal(cq_execute(svc, id, &req, &res, &eb), RC_OK);
    assert_int_equal(res.records_written, 4);
    cq_exec_result_cleanup(&res);
    assert_int_equal(w.prepares, 1);
    assert_int_equal(w.commits, 1);
    assert_int_equal(w.aborts, 0);
    assert_int_equal(w.rows, 4);
    /* A degraded WAL fails the run before anything is buffered. */
    w.fail_rc = RC_IO;
    req.start_us = t0 + 120 * US_PER_SEC;
    req.end_us = t0 + 180 * US_PER_SEC;
    errbuf_clear(&eb);
    assert_int_equal(cq_execute(svc, id, &req, &res, &eb), RC_IO);
    assert_true(res.failed);
    assert_non_null(strstr(eb.msg, "WAL"));
    cq_exec_result_cleanup(&res);
    assert_int_equal(fx_count(&c->f, DB, "SELECT count(*) FROM " DST), 4);
    struct cq_def d;
    assert_int_equal(cq_store_get(c->store, id, &d, &eb), RC_OK);
    assert_int_equal(d.last_processed_time_us, t0 + 120 * US_PER_SEC);
    cq_def_cleanup(&d);
    cq_service_free(&svc);
    /* Incomplete hooks are refused. */
    o.wal_abort = NULL;
    errbuf_clear(&eb);
    assert_int_equal(cq_service_new(&o, c->store, c->f.qe, c->f.cat, c->f.cb, c->f.fl, &svc, &eb),
                     RC_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_downsample_equals_direct_sql, setup),
        cmocka_unit_test_setup(test_watermark_no_double_processing, setup),
        cmocka_unit_test_setup(test_scheduler_first_run_and_inactive, setup),
        cmocka_unit_test_setup(test_dry_run_and_windows, setup),
        cmocka_unit_test(test_definition_validation),
        cmocka_unit_test_setup(test_read_only_check, setup),
        cmocka_unit_test_setup(test_crud, setup),
        cmocka_unit_test_setup(test_numeric_time_and_no_time, setup),
        cmocka_unit_test_setup(test_failures_recorded, setup),
        cmocka_unit_test_setup(test_concurrency_limits, setup),
        cmocka_unit_test_setup(test_wal_hooks, setup),
        cmocka_unit_test_setup(test_scheduler_thread, setup),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
