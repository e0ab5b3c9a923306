/* Unit tests for util/config: key table, defaults, TOML subset, every error
 * kind (with key and file:line), precedence ARC_ > Go alias > legacy > file >
 * default, config_set, derived values, dump/redaction, the repository's
 * arc.toml, and unknown keys/sections loading with warnings. */
#include "test_helpers.h"

#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/config.h"
#include "util/config_internal.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/strbuf.h"

static char empty_dir[PATH_MAX];

/* --- helpers ---------------------------------------------------------------------- */

/* Writes content to a new temp file; returns an xstrdup'd path. */
static char *write_tmp(const char *name, const char *content)
{
    const char *p = test_write_tmp(name, content);
    assert_non_null(p);
    return xstrdup(p);
}

static struct config *load_ok(const char *path, char **envp)
{
    struct config *cfg = NULL;
    struct errbuf eb;
    errbuf_clear(&eb);
    int rc = config_load_env(&cfg, path, envp, &eb);
    if (rc != RC_OK)
        fprintf(stderr, "unexpected config error: %s\n", eb.msg);
    assert_int_equal(rc, RC_OK);
    assert_non_null(cfg);
    return cfg;
}

/* Loads expecting failure; returns the message (static). */
static const char *load_fail(const char *path, char **envp, int want_rc)
{
    static struct errbuf eb;
    struct config *cfg = (struct config *)&eb; /* must come back NULL */
    errbuf_clear(&eb);
    int rc = config_load_env(&cfg, path, envp, &eb);
    assert_int_equal(rc, want_rc);
    assert_null(cfg);
    return eb.msg;
}

/* Writes content as a file, loads it expecting failure, returns message. */
static const char *file_fail(const char *content, int want_rc)
{
    char *path = write_tmp("arc.toml", content);
    static char msg[ERRBUF_SIZE];
    snprintf(msg, sizeof(msg), "%s", load_fail(path, NULL, want_rc));
    xfree(path);
    return msg;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!strstr(hay, needle))
        fprintf(stderr, "expected '%s' in: %s\n", needle, hay);
    assert_non_null(strstr(hay, needle));
}

static void assert_file_error(const char *content, const char *line_tag, const char *key,
                              const char *what)
{
    const char *msg = file_fail(content, strstr(what, "@parse") ? RC_PARSE : RC_INVALID);
    assert_contains(msg, "arc.toml:");
    assert_contains(msg, line_tag);
    if (key)
        assert_contains(msg, key);
    const char *w = strstr(what, "@parse") ? what + 7 : what;
    assert_contains(msg, w);
}

static char *dump(const struct config *cfg, bool redact)
{
    struct strbuf sb;
    strbuf_init(&sb, 0);
    assert_int_equal(config_dump_toml(cfg, &sb, redact), RC_OK);
    return strbuf_detach(&sb, NULL);
}

static enum config_source src_of(const struct config *cfg, const char *key)
{
    enum config_source s;
    assert_true(config_key_source(cfg, key, &s));
    return s;
}

static int64_t ncpu(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 1024 ? 1024 : n;
}

static uint64_t warns(void)
{
    return log_count_at_least(LOG_WARN);
}

/* True if a recent log line contains s. */
static bool logged(const char *s)
{
    struct log_entry *e = calloc(64, sizeof(*e));
    size_t n = log_recent(e, 64, LOG_DEBUG, 0);
    bool found = false;
    for (size_t i = 0; i < n && !found; i++)
        found = strstr(e[i].message, s) != NULL;
    free(e);
    return found;
}

/* --- table and defaults ------------------------------------------------------------- */

static void test_table_consistent(void **state)
{
    (void)state;
    struct errbuf eb;
    errbuf_clear(&eb);
    int rc = config__table_check(&eb);
    if (rc != RC_OK)
        fprintf(stderr, "%s\n", eb.msg);
    assert_int_equal(rc, RC_OK);
    assert_true(config_key_count() > 120);
    assert_string_equal(config_key_name(0), "server.host");
    assert_null(config_key_name(config_key_count()));
    char env[64];
    config__env_name("compaction.daily.min_files", env, sizeof(env));
    assert_string_equal(env, "ARC_COMPACTION_DAILY_MIN_FILES");
    config__env_name("storage.s3.access_key", env, sizeof(env));
    assert_string_equal(env, "ARC_STORAGE_S3_ACCESS_KEY");
}

static void test_defaults(void **state)
{
    (void)state;
    struct config *cfg = config_new();
    assert_string_equal(cfg->server.host, "0.0.0.0");
    assert_int_equal(cfg->server.port, 8000);
    assert_int_equal(cfg->server.io_threads, ncpu());
    assert_int_equal(cfg->server.max_request_size_mb, 100);
    assert_int_equal(cfg->server.max_decompressed_size_mb, 500);
    assert_int_equal(cfg->server.max_inflight_body_mb, 2048);
    assert_int_equal(cfg->server.read_timeout_seconds, 30);
    assert_int_equal(cfg->server.idle_timeout_seconds, 120);
    assert_false(cfg->server.tls_enabled);
    assert_string_equal(cfg->server.tls_cert_file, "");
    assert_true(cfg->auth.enabled);
    assert_string_equal(cfg->auth.bootstrap_token, "");
    assert_int_equal(cfg->auth.allowlist.count, 7);
    assert_string_equal(cfg->auth.allowlist.items[0], "/");
    assert_string_equal(cfg->auth.allowlist.items[6], "/api/v1/metrics*");
    assert_int_equal(cfg->auth.cache_ttl, 30);
    assert_int_equal(cfg->auth.max_cache_size, 1000);
    assert_string_equal(cfg->auth.db_path, "./data/arc.db");
    assert_string_equal(cfg->storage.backend, "local");
    assert_string_equal(cfg->storage.database, "default");
    assert_int_equal(cfg->storage.connect_timeout_seconds, 10);
    assert_int_equal(cfg->storage.low_speed_limit_bytes, 1024);
    assert_int_equal(cfg->storage.operation_timeout_seconds, 300);
    assert_int_equal(cfg->storage.max_retries, 3);
    assert_string_equal(cfg->storage.local.base_path, "./data/arc");
    assert_string_equal(cfg->storage.s3.region, "us-east-1");
    assert_true(cfg->storage.s3.use_ssl);
    assert_false(cfg->storage.s3.path_style);
    assert_string_equal(cfg->storage.minio.endpoint, "http://localhost:9000");
    assert_string_equal(cfg->storage.minio.bucket, "arc");
    assert_int_equal(cfg->ingestion.buffer_size, 50000);
    assert_int_equal(cfg->ingestion.buffer_age_seconds, 5);
    assert_int_equal(cfg->ingestion.buffer_hard_limit, 100000); /* 2 x buffer_size */
    assert_int_equal(cfg->ingestion.max_total_buffer_mb, 1024);
    assert_int_equal(cfg->ingestion.flush_retry_limit, 0);
    assert_string_equal(cfg->ingestion.compression, "snappy");
    assert_int_equal(cfg->ingestion.max_line_bytes, 1048576);
    assert_int_equal(cfg->ingestion.sort_keys.count, 0);
    assert_false(cfg->wal.enabled);
    assert_string_equal(cfg->wal.dir, "./data/wal");
    assert_string_equal(cfg->wal.sync_mode, "fdatasync");
    assert_int_equal(cfg->wal.queue_size, 10000);
    assert_int_equal(cfg->wal.max_total_size_mb, 0);
    assert_true(cfg->compaction.enabled);
    assert_string_equal(cfg->compaction.schedule, "5 * * * *");
    assert_int_equal(cfg->compaction.min_age_hours, 1);
    assert_int_equal(cfg->compaction.max_files_per_batch, 30);
    assert_string_equal(cfg->compaction.compression, "zstd");
    assert_int_equal(cfg->compaction.compression_level, 3);
    assert_string_equal(cfg->compaction.daily.schedule, "0 3 * * *");
    assert_int_equal(cfg->compaction.daily.min_files, 12);
    assert_int_equal(cfg->compaction.daily.target_file_size_mb, 2048);
    assert_int_equal(cfg->query.timeout_seconds, 300);
    assert_int_equal(cfg->query.max_sql_length, 10000);
    assert_int_equal(cfg->duckdb.pool_size, 5);
    assert_int_equal(cfg->duckdb.threads, ncpu());
    assert_string_equal(cfg->duckdb.memory_limit, "");
    assert_true(cfg->duckdb.enable_object_cache);
    assert_int_equal(cfg->query_cache.max_total_mb, 200);
    assert_false(cfg->delete.enabled);
    assert_int_equal(cfg->delete.max_rows_per_delete, 1000000);
    assert_string_equal(cfg->retention.schedule, "");
    assert_int_equal(cfg->continuous_queries.timeout, 3600);
    assert_false(cfg->continuous_queries.scheduler_enabled);
    assert_string_equal(cfg->logging.level, "INFO");
    assert_string_equal(cfg->logging.format, "structured");
    assert_int_equal(cfg->logging.buffer_entries, 10000);
    assert_int_equal(cfg->cors.origins.count, 0);
    assert_int_equal(cfg->monitoring.failure_unhealthy_threshold, 10);
    assert_true(cfg->monitoring.ready_requires_storage);
    assert_null(config_source_path(cfg));
    assert_int_equal(src_of(cfg, "server.port"), CONFIG_SRC_DEFAULT);
    enum config_source s;
    assert_false(config_key_source(cfg, "server.nope", &s));
    struct errbuf eb;
    errbuf_clear(&eb);
    assert_int_equal(config_validate(cfg, &eb), RC_OK);
    config_free(&cfg);
    assert_null(cfg);
    config_free(&cfg);
    config_free(NULL);
}

/* --- file lookup ----------------------------------------------------------------------- */

static void test_lookup_order(void **state)
{
    (void)state;
    char old[PATH_MAX];
    assert_non_null(getcwd(old, sizeof(old)));
    char dir[] = "/tmp/arc-cfg-lookup-XXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_int_equal(chdir(dir), 0);

    struct stat st;
    bool etc_exists = stat("/etc/arc/arc.toml", &st) == 0;
    struct config *cfg;
    if (!etc_exists) {
        cfg = load_ok(NULL, NULL);
        assert_null(config_source_path(cfg));
        assert_int_equal(cfg->server.port, 8000);
        config_free(&cfg);
    }

    FILE *f = fopen("arc.conf", "w");
    fputs("[server]\nport = 1111\n", f);
    fclose(f);
    cfg = load_ok(NULL, NULL);
    assert_string_equal(config_source_path(cfg), "./arc.conf");
    assert_int_equal(cfg->server.port, 1111);
    assert_int_equal(src_of(cfg, "server.port"), CONFIG_SRC_FILE);
    config_free(&cfg);

    f = fopen("arc.toml", "w");
    fputs("[server]\nport = 2222\n", f);
    fclose(f);
    cfg = load_ok(NULL, NULL);
    assert_string_equal(config_source_path(cfg), "./arc.toml");
    assert_int_equal(cfg->server.port, 2222);
    config_free(&cfg);

    /* ARC_CONFIG_FILE beats ./arc.toml, an explicit path beats both. */
    f = fopen("other.toml", "w");
    fputs("[server]\nport = 3333\n", f);
    fclose(f);
    f = fopen("explicit.toml", "w");
    fputs("[server]\nport = 4444\n", f);
    fclose(f);
    char *env[] = {"ARC_CONFIG_FILE=other.toml", NULL};
    cfg = load_ok(NULL, env);
    assert_int_equal(cfg->server.port, 3333);
    assert_string_equal(config_source_path(cfg), "other.toml");
    config_free(&cfg);
    cfg = load_ok("explicit.toml", env);
    assert_int_equal(cfg->server.port, 4444);
    config_free(&cfg);

    /* Missing explicit files are errors, never silently defaults. */
    const char *msg = load_fail("missing.toml", NULL, RC_IO);
    assert_contains(msg, "missing.toml");
    char *env2[] = {"ARC_CONFIG_FILE=/nonexistent/arc.toml", NULL};
    msg = load_fail(NULL, env2, RC_IO);
    assert_contains(msg, "/nonexistent/arc.toml");
    /* A directory is not a config file. */
    assert_int_equal(mkdir("adir", 0700), 0);
    msg = load_fail("adir", NULL, RC_IO);
    assert_contains(msg, "adir");

    unlink("arc.conf");
    unlink("arc.toml");
    unlink("other.toml");
    unlink("explicit.toml");
    rmdir("adir");
    assert_int_equal(chdir(old), 0);
    rmdir(dir);
}

/* --- TOML syntax -------------------------------------------------------------------------- */

static void test_toml_values(void **state)
{
    (void)state;
    const char *text = "\xEF\xBB\xBF# comment line\n"
                       "top = 1\r\n"
                       "[a]  # trailing comment\n"
                       "s1 = \"tab\\there \\\"q\\\" back\\\\slash \\u00e9 \\U0001F600 nl\\n\"\n"
                       "s2 = 'C:\\path\\no escapes'\n"
                       "s3 = \"\"\"\nline1\n  line2 \\\n    joined\"\"\"\n"
                       "s4 = '''\nraw \\n line'''\n"
                       "i1 = 1_000_000\n"
                       "i2 = -42\n"
                       "i3 = +7\n"
                       "i4 = 0xff\n"
                       "i5 = 0o17\n"
                       "i6 = 0b101\n"
                       "i7 = 9223372036854775807\n"
                       "f1 = 1.5\n"
                       "f2 = -2e3\n"
                       "f3 = 6.02_2e2\n"
                       "f4 = inf\n"
                       "b1 = true\n"
                       "b2 = false\n"
                       "arr = [\n  \"x\", # first\n  'y',\n\n  \"z\",  # trailing comma next\n]\n"
                       "nums = [1, 2.5, -3]\n"
                       "empty = []\n"
                       "\"quoted key\" = 1\n"
                       "sub.dotted . key = \"d\"\n"
                       "[a.b]\n"
                       "c = \"in sub\"\n";
    struct toml_doc doc = {0};
    struct errbuf eb;
    errbuf_clear(&eb);
    int rc = config__toml_parse(text, strlen(text), "t.toml", &doc, &eb);
    if (rc != RC_OK)
        fprintf(stderr, "%s\n", eb.msg);
    assert_int_equal(rc, RC_OK);

#define ITEM(i) (&doc.items[i])
    size_t k = 0;
    assert_string_equal(ITEM(k)->path, "top");
    assert_int_equal(ITEM(k)->line, 2);
    k++;
    assert_true(ITEM(k)->is_table);
    assert_string_equal(ITEM(k)->path, "a");
    assert_int_equal(ITEM(k)->line, 3);
    k++;
    assert_string_equal(ITEM(k)->path, "a.s1");
    assert_int_equal(ITEM(k)->val.kind, TOML_STRING);
    assert_string_equal(ITEM(k)->val.s,
                        "tab\there \"q\" back\\slash \xc3\xa9 \xf0\x9f\x98\x80 nl\n");
    k++;
    assert_string_equal(ITEM(k)->val.s, "C:\\path\\no escapes");
    k++;
    assert_string_equal(ITEM(k)->val.s, "line1\n  line2 joined");
    assert_int_equal(ITEM(k)->line, 6);
    k++;
    assert_string_equal(ITEM(k)->val.s, "raw \\n line");
    assert_int_equal(ITEM(k)->line, 10);
    k++;
    int64_t ints[] = {1000000, -42, 7, 255, 15, 5, INT64_MAX};
    for (size_t j = 0; j < 7; j++, k++) {
        assert_int_equal(ITEM(k)->val.kind, TOML_INT);
        assert_int_equal(ITEM(k)->val.i, ints[j]);
    }
    double fl[] = {1.5, -2000.0, 602.2};
    for (size_t j = 0; j < 3; j++, k++) {
        assert_int_equal(ITEM(k)->val.kind, TOML_FLOAT);
        assert_true(ITEM(k)->val.d == fl[j]);
    }
    assert_int_equal(ITEM(k)->val.kind, TOML_FLOAT);
    assert_true(ITEM(k)->val.d > 1e308);
    k++;
    assert_int_equal(ITEM(k)->val.kind, TOML_BOOL);
    assert_true(ITEM(k)->val.b);
    k++;
    assert_false(ITEM(k)->val.b);
    k++;
    assert_string_equal(ITEM(k)->path, "a.arr");
    assert_int_equal(ITEM(k)->val.kind, TOML_ARRAY);
    assert_int_equal(ITEM(k)->val.n, 3);
    assert_string_equal(ITEM(k)->val.items[0].s, "x");
    assert_string_equal(ITEM(k)->val.items[1].s, "y");
    assert_string_equal(ITEM(k)->val.items[2].s, "z");
    k++;
    assert_int_equal(ITEM(k)->val.n, 3);
    assert_int_equal(ITEM(k)->val.items[0].kind, TOML_INT);
    assert_int_equal(ITEM(k)->val.items[1].kind, TOML_FLOAT);
    assert_int_equal(ITEM(k)->val.items[2].i, -3);
    k++;
    assert_int_equal(ITEM(k)->val.kind, TOML_ARRAY);
    assert_int_equal(ITEM(k)->val.n, 0);
    k++;
    assert_string_equal(ITEM(k)->path, "a.quoted key");
    k++;
    assert_string_equal(ITEM(k)->path, "a.sub.dotted.key");
    k++;
    assert_true(ITEM(k)->is_table);
    assert_string_equal(ITEM(k)->path, "a.b");
    k++;
    assert_string_equal(ITEM(k)->path, "a.b.c");
    assert_int_equal(ITEM(k)->line, 36);
    k++;
    assert_int_equal(doc.n, k);
#undef ITEM
    config__toml_free(&doc);
}

static void toml_err(const char *text, int line, const char *what)
{
    struct toml_doc doc = {0};
    struct errbuf eb;
    errbuf_clear(&eb);
    int rc = config__toml_parse(text, strlen(text), "x.toml", &doc, &eb);
    config__toml_free(&doc);
    assert_int_equal(rc, RC_PARSE);
    char tag[32];
    snprintf(tag, sizeof(tag), "x.toml:%d:", line);
    if (!strstr(eb.msg, tag) || !strstr(eb.msg, what))
        fprintf(stderr, "for %s\n  got '%s', wanted '%s' and '%s'\n", text, eb.msg, tag, what);
    assert_non_null(strstr(eb.msg, tag));
    assert_non_null(strstr(eb.msg, what));
}

static void test_toml_errors(void **state)
{
    (void)state;
    toml_err("a = 1\nb 2\n", 2, "b: expected '='");
    toml_err("[s]\nk = \"abc\n", 2, "s.k: newline in string");
    toml_err("[s]\nk = \"abc", 2, "s.k: unterminated string");
    toml_err("k = \"abc", 1, "unterminated string");
    toml_err("k = \"a\\qb\"", 1, "k: invalid escape");
    toml_err("k = \"\\u12\"", 1, "\\u escape needs 4 hex digits");
    toml_err("k = \"\\ud800\"", 1, "not a Unicode scalar value");
    toml_err("k = \"a\x01\"", 1, "control character");
    toml_err("k = \"\"\"abc", 1, "unterminated string");
    toml_err("k = '''abc\n\n", 3, "unterminated string");
    toml_err("k = { a = 1 }", 1, "inline tables are not supported");
    toml_err("[[servers]]\n", 1, "arrays of tables");
    toml_err("k = [[1], [2]]", 1, "nested arrays are not supported");
    toml_err("k = [1, 2", 1, "unterminated array");
    toml_err("k = [1 2]", 1, "expected ',' or ']'");
    toml_err("k = 1979-05-27\n", 1, "date/time values are not supported");
    toml_err("k = 07:32:00\n", 1, "date/time values are not supported");
    toml_err("k = 012", 1, "leading zeros");
    toml_err("k = 1__0", 1, "invalid value");
    toml_err("k = _1", 1, "invalid value");
    toml_err("k = 9223372036854775808", 1, "integer out of range");
    toml_err("k = 1.", 1, "invalid float");
    toml_err("k = 1e", 1, "invalid float exponent");
    toml_err("k = 1e999", 1, "float out of range");
    toml_err("k = -0x10", 1, "sign is not allowed");
    toml_err("k = 0xZZ", 1, "invalid integer");
    toml_err("k = yes", 1, "k: invalid value (strings need quotes)");
    toml_err("k = TRUE", 1, "invalid value");
    toml_err("k =\n", 1, "k: expected a value");
    toml_err("k = 1 2\n", 1, "unexpected text after the value");
    toml_err("[a] x\n", 1, "unexpected text after table header");
    toml_err("[a\n", 1, "expected ']'");
    toml_err("[]\n", 1, "expected a key");
    toml_err("= 1\n", 1, "expected a key");
    toml_err("a = 1\na = 2\n", 2, "duplicate key (first on line 1)");
    toml_err("[s]\na = 1\n[t]\n[s]\n", 4, "table [s] defined twice (first on line 1)");
    toml_err("[s]\na = 1\n[s.a]\n", 3, "already a value");
    toml_err("a = 1\na.b = 2\n", 2, "already a value");
    toml_err("a.b = 1\na = 2\n", 2, "key is already a table");
    toml_err("s = 1\n[s.t]\n", 2, "s.t]: s is already a value (line 1)");
    toml_err("a = 1\rb = 2\n", 1, "bare carriage return");
    toml_err("a = \"\"\"x\"\"\"\"\"\"\n", 1, "too many quotes");
}

static void test_toml_dotted_and_multiline_in_config(void **state)
{
    (void)state;
    char *path = write_tmp("arc.toml", "# dotted keys under a table and at the root\n"
                                       "server.port = 9100\n"
                                       "[storage]\n"
                                       "backend = \"s3\"\n"
                                       "s3.bucket = 'my-bucket'\n"
                                       "s3.region = \"eu-west-1\"\n"
                                       "[auth]\n"
                                       "allowlist = [\n"
                                       "  \"/\",   # root\n"
                                       "  \"/health\",\n"
                                       "]\n"
                                       "bootstrap_token = \"\"\"\n"
                                       "0123456789abcdef0123456789abcdef\"\"\"\n");
    struct config *cfg = load_ok(path, NULL);
    assert_int_equal(cfg->server.port, 9100);
    assert_string_equal(cfg->storage.backend, "s3");
    assert_string_equal(cfg->storage.s3.bucket, "my-bucket");
    assert_string_equal(cfg->storage.s3.region, "eu-west-1");
    assert_int_equal(cfg->auth.allowlist.count, 2);
    assert_string_equal(cfg->auth.allowlist.items[1], "/health");
    assert_string_equal(cfg->auth.bootstrap_token, "0123456789abcdef0123456789abcdef");
    assert_string_equal(config_source_path(cfg), path);
    config_free(&cfg);
    xfree(path);
}

/* --- validation errors ------------------------------------------------------------------------ */

static void test_file_value_errors(void **state)
{
    (void)state;
    /* wrong types */
    assert_file_error("[server]\nhost = \"h\"\nport = \"8000\"\n", ":3:", "server.port",
                      "expected an integer, got a string");
    assert_file_error("[server]\nport = 80.5\n", ":2:", "server.port",
                      "expected an integer, got a float");
    assert_file_error("[wal]\nenabled = \"yes\"\n", ":2:", "wal.enabled",
                      "expected a boolean, got a string");
    assert_file_error("[server]\nhost = 1\n", ":2:", "server.host",
                      "expected a string, got an integer");
    assert_file_error("[auth]\nallowlist = [\"/\", 1]\n", ":2:", "auth.allowlist",
                      "element 2 is an integer");
    assert_file_error("[auth]\nallowlist = true\n", ":2:", "auth.allowlist",
                      "expected an array of strings, got a boolean");
    assert_file_error("[server]\nhost = \"a\\u0000b\"\n", ":2:", "server.host", "NUL");
    /* unknown enum values */
    assert_file_error("\n[storage]\nbackend = \"ftp\"\n", ":3:", "storage.backend",
                      "unknown value 'ftp' (expected one of: local, s3, minio, gcs)");
    assert_file_error("[wal]\nsync_mode = \"sometimes\"\n", ":2:", "wal.sync_mode",
                      "expected one of: fsync, fdatasync, async");
    assert_file_error("[ingestion]\ncompression = \"brotli\"\n", ":2:", "ingestion.compression",
                      "unknown value 'brotli'");
    assert_file_error("[logging]\nlevel = \"verbose\"\n", ":2:", "logging.level",
                      "expected one of: DEBUG, INFO, WARNING, ERROR");
    assert_file_error("[logging]\nformat = \"xml\"\n", ":2:", "logging.format",
                      "unknown value 'xml'");
    /* out of range */
    assert_file_error("[server]\nport = 70000\n", ":2:", "server.port",
                      "70000 is out of range 1..65535");
    assert_file_error("[server]\nport = 0\n", ":2:", "server.port", "out of range");
    assert_file_error("[compaction]\nmax_files_per_batch = 1\n",
                      ":2:", "compaction.max_files_per_batch", "1 is out of range 2..500");
    assert_file_error("[compaction]\nmax_files_per_batch = 501\n",
                      ":2:", "compaction.max_files_per_batch", "out of range");
    assert_file_error("[ingestion]\nbuffer_size = 0\n", ":2:", "ingestion.buffer_size",
                      "out of range");
    assert_file_error("[server]\nmax_request_size_mb = -1\n", ":2:", "server.max_request_size_mb",
                      "out of range");
    assert_file_error("[duckdb]\npool_size = 0\n", ":2:", "duckdb.pool_size", "out of range");
    /* string rules */
    assert_file_error("[auth]\nbootstrap_token = \"tooshort-secret\"\n",
                      ":2:", "auth.bootstrap_token", "at least 32 characters long (has 15)");
    assert_file_error("[compaction]\nschedule = \"5 * * *\"\n", ":2:", "compaction.schedule",
                      "5 fields");
    assert_file_error("[compaction]\nschedule = \"61 * * * *\"\n", ":2:", "compaction.schedule",
                      "minute");
    assert_file_error("[compaction.daily]\nschedule = \"0 3 * 13 *\"\n",
                      ":2:", "compaction.daily.schedule", "month");
    assert_file_error("[retention]\nschedule = \"0 5-3 * * *\"\n", ":2:", "retention.schedule",
                      "hour");
    assert_file_error("[storage]\ndatabase = \"1bad\"\n", ":2:", "storage.database",
                      "invalid database name");
    assert_file_error("[storage.local]\nbase_path = \"\"\n", ":2:", "storage.local.base_path",
                      "must not be empty");
    assert_file_error("[server]\nhost = \"a b\"\n", ":2:", "server.host", "whitespace");
    assert_file_error("[duckdb]\nmemory_limit = \"lots\"\n", ":2:", "duckdb.memory_limit",
                      "invalid memory limit");
    assert_file_error("[ingestion]\nsort_keys = [\"cpu\"]\n", ":2:", "ingestion.sort_keys",
                      "measurement:col1,col2");
    assert_file_error("[ingestion]\nsort_keys = [\"cpu:host,\"]\n", ":2:", "ingestion.sort_keys",
                      "empty column name");
    assert_file_error("[auth]\nallowlist = [\"health\"]\n", ":2:", "auth.allowlist",
                      "must start with '/'");
    assert_file_error("[auth]\nallowlist = [\"\"]\n", ":2:", "auth.allowlist", "is empty");
    assert_file_error("[cors]\norigins = [\"example.com\"]\n", ":2:", "cors.origins", "origin");
    /* syntax errors come through load too, as RC_PARSE */
    assert_file_error("[server]\nport = \n", ":2:", "server.port", "@parse expected a value");

    /* The token never appears in the message. */
    const char *msg = file_fail("[auth]\nbootstrap_token = \"s3cr3t-value\"\n", RC_INVALID);
    assert_null(strstr(msg, "s3cr3t"));
}

static void test_cross_key_errors(void **state)
{
    (void)state;
    const char *msg = file_fail("[storage]\nbackend = \"s3\"\n", RC_INVALID);
    assert_contains(msg, "storage.s3.bucket: required when storage.backend = \"s3\"");
    msg = file_fail("[storage]\nbackend = \"s3\"\n[storage.s3]\nbucket = \"b\"\n"
                    "access_key = \"AKIAXXXX\"\n",
                    RC_INVALID);
    assert_contains(msg, "storage.s3.secret_key");
    assert_null(strstr(msg, "AKIAXXXX"));
    msg = file_fail("[storage]\nbackend = \"gcs\"\n[storage.gcs]\nbucket = \"b\"\n", RC_INVALID);
    assert_contains(msg, "storage.gcs.hmac_key_id: required");
    msg = file_fail("[storage]\nbackend = \"gcs\"\n[storage.gcs]\nbucket = \"b\"\n"
                    "hmac_key_id = \"id\"\n",
                    RC_INVALID);
    assert_contains(msg, "storage.gcs.hmac_secret: required");
    msg = file_fail("[storage]\nbackend = \"minio\"\n", RC_INVALID);
    assert_contains(msg, "storage.minio.access_key: required");
    msg = file_fail("[storage]\nbackend = \"minio\"\n[storage.minio]\naccess_key = \"a\"\n",
                    RC_INVALID);
    assert_contains(msg, "storage.minio.secret_key: required");
    msg = file_fail("[server]\ntls_enabled = true\ntls_key_file = \"k.pem\"\n", RC_INVALID);
    assert_contains(msg, "server.tls_cert_file: required when server.tls_enabled");
    msg = file_fail("[ingestion]\nbuffer_size = 1000\nbuffer_hard_limit = 999\n", RC_INVALID);
    assert_contains(msg, "arc.toml:3: ingestion.buffer_hard_limit: 999 is below");
    msg = file_fail("[wal]\nmax_total_size_mb = 50\n", RC_INVALID);
    assert_contains(msg, "wal.max_total_size_mb: 50 is below wal.max_size_mb");
    msg = file_fail("[compaction]\ncompression = \"gzip\"\ncompression_level = 12\n", RC_INVALID);
    assert_contains(msg, "arc.toml:3: compaction.compression_level: 12 is out of range 1..9");
    msg = file_fail("[query_cache]\nmax_result_mb = 300\n", RC_INVALID);
    assert_contains(msg, "query_cache.max_result_mb");
    msg = file_fail("[monitoring]\nfailure_warn_threshold = 20\n", RC_INVALID);
    assert_contains(msg, "monitoring.failure_unhealthy_threshold: 10 is below");

    /* Complete backends load. */
    char *path = write_tmp("arc.toml", "[storage]\nbackend = \"MinIO\"\n[storage.minio]\n"
                                       "access_key = \"a\"\nsecret_key = \"b\"\n");
    struct config *cfg = load_ok(path, NULL);
    assert_string_equal(cfg->storage.backend, "minio"); /* canonical spelling */
    config_free(&cfg);
    xfree(path);
}

/* --- environment --------------------------------------------------------------------------------
 */

static void test_env_precedence(void **state)
{
    (void)state;
    char *path = write_tmp("arc.toml", "[ingestion]\nbuffer_size = 1\n");
    struct config *cfg = load_ok(path, NULL);
    assert_int_equal(cfg->ingestion.buffer_size, 1);
    assert_int_equal(src_of(cfg, "ingestion.buffer_size"), CONFIG_SRC_FILE);
    config_free(&cfg);

    char *e1[] = {"BUFFER_SIZE=2", NULL};
    cfg = load_ok(path, e1);
    assert_int_equal(cfg->ingestion.buffer_size, 2);
    assert_int_equal(src_of(cfg, "ingestion.buffer_size"), CONFIG_SRC_ENV_LEGACY);
    config_free(&cfg);

    char *e2[] = {"BUFFER_SIZE=2", "ARC_INGEST_MAX_BUFFER_SIZE=3", NULL};
    cfg = load_ok(path, e2);
    assert_int_equal(cfg->ingestion.buffer_size, 3);
    assert_int_equal(src_of(cfg, "ingestion.buffer_size"), CONFIG_SRC_ENV_ALIAS);
    config_free(&cfg);

    char *e3[] = {"ARC_INGESTION_BUFFER_SIZE=4", "BUFFER_SIZE=2", "ARC_INGEST_MAX_BUFFER_SIZE=3",
                  NULL};
    cfg = load_ok(path, e3);
    assert_int_equal(cfg->ingestion.buffer_size, 4);
    assert_int_equal(src_of(cfg, "ingestion.buffer_size"), CONFIG_SRC_ENV);
    /* derived hard limit follows the final buffer size */
    assert_int_equal(cfg->ingestion.buffer_hard_limit, 8);
    config_free(&cfg);

    /* Legacy: the first listed variable wins. */
    char *e4[] = {"WRITE_BUFFER_SIZE=20", "BUFFER_SIZE=10", NULL};
    cfg = load_ok(NULL, e4);
    assert_int_equal(cfg->ingestion.buffer_size, 10);
    config_free(&cfg);
    char *e5[] = {"WRITE_BUFFER_SIZE=20", NULL};
    cfg = load_ok(NULL, e5);
    assert_int_equal(cfg->ingestion.buffer_size, 20);
    config_free(&cfg);
    char *e6[] = {"PORT=1234", "ARC_PORT=4321", NULL};
    cfg = load_ok(NULL, e6);
    assert_int_equal(cfg->server.port, 4321);
    config_free(&cfg);

    /* Within the file, own names beat alias names regardless of order. */
    xfree(path);
    path = write_tmp("arc.toml", "[wal]\ndir = \"/own\"\ndirectory = \"/alias\"\n"
                                 "[log]\nlevel = \"error\"\n[logging]\nlevel = \"debug\"\n");
    cfg = load_ok(path, NULL);
    assert_string_equal(cfg->wal.dir, "/own");
    assert_string_equal(cfg->logging.level, "DEBUG");
    assert_int_equal(src_of(cfg, "wal.dir"), CONFIG_SRC_FILE);
    config_free(&cfg);
    xfree(path);

    /* Env alias forms with transforms; ARC_STORAGE_S3_BUCKET is both the
     * own name and the Go alias form. */
    char *e7[] = {"ARC_LOG_LEVEL=warn",
                  "ARC_LOG_FORMAT=console",
                  "ARC_STORAGE_S3_BUCKET=bkt",
                  "ARC_STORAGE_BACKEND=s3",
                  "ARC_INGEST_MAX_BUFFER_AGE_MS=5500",
                  "ARC_SERVER_MAX_PAYLOAD_SIZE=1GB",
                  "ARC_DATABASE_MAX_CONNECTIONS=9",
                  "ARC_COMPACTION_HOURLY_MIN_FILES=7",
                  "ARC_WAL_DIRECTORY=/w",
                  NULL};
    cfg = load_ok(NULL, e7);
    assert_string_equal(cfg->logging.level, "WARNING");
    assert_string_equal(cfg->logging.format, "text");
    assert_string_equal(cfg->storage.s3.bucket, "bkt");
    assert_int_equal(src_of(cfg, "storage.s3.bucket"), CONFIG_SRC_ENV);
    assert_int_equal(cfg->ingestion.buffer_age_seconds, 6);
    assert_int_equal(cfg->server.max_request_size_mb, 1024);
    assert_int_equal(cfg->duckdb.pool_size, 9);
    assert_int_equal(cfg->compaction.min_files, 7);
    assert_string_equal(cfg->wal.dir, "/w");
    assert_int_equal(src_of(cfg, "wal.dir"), CONFIG_SRC_ENV_ALIAS);
    config_free(&cfg);

    /* Variables that are not in the table are never read. */
    char *e8[] = {"ARC_SERVER_WORKERS=12", "ARC_SERVERPORT=1", "server.port=1", NULL};
    cfg = load_ok(NULL, e8);
    assert_int_equal(cfg->server.port, 8000);
    config_free(&cfg);
}

static void test_env_value_syntax(void **state)
{
    (void)state;
    const char *yes[] = {"true", "TRUE", "1", "yes", "Yes", "on", "ON", " true "};
    const char *no[] = {"false", "False", "0", "no", "NO", "off", "Off"};
    char buf[64];
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        snprintf(buf, sizeof(buf), "ARC_WAL_ENABLED=%s", yes[i]);
        char *e[] = {buf, NULL};
        struct config *cfg = load_ok(NULL, e);
        assert_true(cfg->wal.enabled);
        config_free(&cfg);
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        snprintf(buf, sizeof(buf), "ARC_AUTH_ENABLED=%s", no[i]);
        char *e[] = {buf, NULL};
        struct config *cfg = load_ok(NULL, e);
        assert_false(cfg->auth.enabled);
        config_free(&cfg);
    }
    char *bad_bool[] = {"ARC_WAL_ENABLED=maybe", NULL};
    const char *msg = load_fail(NULL, bad_bool, RC_INVALID);
    assert_contains(msg, "environment variable ARC_WAL_ENABLED: wal.enabled: expected a boolean");
    char *bad_int[] = {"PORT=eighty", NULL};
    msg = load_fail(NULL, bad_int, RC_INVALID);
    assert_contains(msg, "environment variable PORT: server.port: expected an integer, got "
                         "'eighty'");
    char *bad_range[] = {"ARC_SERVER_PORT=65536", NULL};
    msg = load_fail(NULL, bad_range, RC_INVALID);
    assert_contains(msg, "ARC_SERVER_PORT: server.port: 65536 is out of range 1..65535");
    char *overflow[] = {"ARC_SERVER_PORT=99999999999999999999", NULL};
    msg = load_fail(NULL, overflow, RC_INVALID);
    assert_contains(msg, "integer out of range");
    char *bad_enum[] = {"ARC_LOG_LEVEL=loud", NULL};
    msg = load_fail(NULL, bad_enum, RC_INVALID);
    assert_contains(msg, "ARC_LOG_LEVEL: log.level (alias of logging.level): unknown value");
    char *bad_ms[] = {"ARC_INGEST_MAX_BUFFER_AGE_MS=-5", NULL};
    msg = load_fail(NULL, bad_ms, RC_INVALID);
    assert_contains(msg, "must not be negative");
    char *bad_size[] = {"ARC_SERVER_MAX_PAYLOAD_SIZE=1XB", NULL};
    msg = load_fail(NULL, bad_size, RC_INVALID);
    assert_contains(msg, "server.max_payload_size (alias of server.max_request_size_mb)");
    /* An invalid value is an error even when a higher source overrides it. */
    char *shadowed[] = {"PORT=0", "ARC_SERVER_PORT=8080", NULL};
    msg = load_fail(NULL, shadowed, RC_INVALID);
    assert_contains(msg, "environment variable PORT");
    /* Secrets are never echoed. */
    char *token[] = {"ARC_AUTH_BOOTSTRAP_TOKEN=hunter2hunter2", NULL};
    msg = load_fail(NULL, token, RC_INVALID);
    assert_contains(msg, "auth.bootstrap_token");
    assert_null(strstr(msg, "hunter2"));

    /* Lists: comma separated, trimmed, empty items dropped. */
    char *lists[] = {"ARC_AUTH_ALLOWLIST= /a, /b,,/c ,",
                     "CORS_ORIGINS=https://x.example, http://y.example:8080",
                     "ARC_INGESTION_SORT_KEYS=cpu:host,region, mem:host",
                     "ARC_STORAGE_S3_ENDPOINT=",
                     "ARC_SERVER_PORT=",
                     "ARC_SERVER_IO_THREADS=1_0",
                     NULL};
    uint64_t w0 = warns();
    struct config *cfg = load_ok(NULL, lists);
    assert_int_equal(cfg->auth.allowlist.count, 3);
    assert_string_equal(cfg->auth.allowlist.items[0], "/a");
    assert_string_equal(cfg->auth.allowlist.items[2], "/c");
    assert_int_equal(cfg->cors.origins.count, 2);
    assert_string_equal(cfg->cors.origins.items[1], "http://y.example:8080");
    assert_int_equal(cfg->ingestion.sort_keys.count, 2);
    assert_string_equal(cfg->ingestion.sort_keys.items[0], "cpu:host,region");
    assert_string_equal(cfg->ingestion.sort_keys.items[1], "mem:host");
    assert_string_equal(cfg->storage.s3.endpoint, "");
    assert_int_equal(src_of(cfg, "storage.s3.endpoint"), CONFIG_SRC_ENV);
    /* empty non-string values are ignored with a warning */
    assert_int_equal(cfg->server.port, 8000);
    assert_true(warns() > w0);
    assert_int_equal(cfg->server.io_threads, 10);
    config_free(&cfg);

    char *empty_list[] = {"ARC_AUTH_ALLOWLIST=", NULL};
    cfg = load_ok(NULL, empty_list);
    assert_int_equal(cfg->auth.allowlist.count, 0);
    config_free(&cfg);
}

static void test_legacy_env_table(void **state)
{
    (void)state;
    char *env[] = {"HOST=127.0.0.1",
                   "MAX_REQUEST_SIZE_MB=7",
                   "MAX_DECOMPRESSED_SIZE_MB=8",
                   "AUTH_ENABLED=false",
                   "DEFAULT_API_TOKEN=0123456789abcdef0123456789abcdef",
                   "AUTH_CACHE_TTL=5",
                   "STORAGE_BACKEND=minio",
                   "STORAGE_LOCAL_DATABASE=legacydb",
                   "STORAGE_LOCAL_BASE_PATH=/data",
                   "MINIO_ENDPOINT=http://m:9000",
                   "MINIO_ACCESS_KEY=ak",
                   "MINIO_SECRET_KEY=sk",
                   "MINIO_BUCKET=bb",
                   "MINIO_USE_SSL=true",
                   "WRITE_BUFFER_AGE=9",
                   "WRITE_COMPRESSION=zstd",
                   "WAL_ENABLED=1",
                   "WAL_DIR=/wal",
                   "WAL_SYNC_MODE=fsync",
                   "WAL_MAX_SIZE_MB=50",
                   "WAL_MAX_AGE_SECONDS=60",
                   "COMPACTION_MIN_AGE_HOURS=3",
                   "COMPACTION_SCHEDULE=*/15 * * * *",
                   "COMPACTION_COMPRESSION_LEVEL=9",
                   "QUERY_CACHE_TTL=11",
                   "QUERY_CACHE_MAX_RESULT_MB=12",
                   "DUCKDB_POOL_SIZE=3",
                   "DUCKDB_ENABLE_OBJECT_CACHE=off",
                   "DELETE_MAX_ROWS=77",
                   "LOG_LEVEL=debug",
                   "LOG_FORMAT=TEXT",
                   "CORS_ORIGINS=*",
                   NULL};
    struct config *cfg = load_ok(NULL, env);
    assert_string_equal(cfg->server.host, "127.0.0.1");
    assert_int_equal(cfg->server.max_request_size_mb, 7);
    assert_int_equal(cfg->server.max_decompressed_size_mb, 8);
    assert_false(cfg->auth.enabled);
    assert_string_equal(cfg->auth.bootstrap_token, "0123456789abcdef0123456789abcdef");
    assert_int_equal(cfg->auth.cache_ttl, 5);
    assert_string_equal(cfg->storage.backend, "minio");
    assert_string_equal(cfg->storage.database, "legacydb");
    assert_string_equal(cfg->storage.local.base_path, "/data");
    assert_string_equal(cfg->storage.minio.endpoint, "http://m:9000");
    assert_string_equal(cfg->storage.minio.bucket, "bb");
    assert_true(cfg->storage.minio.use_ssl);
    assert_int_equal(cfg->ingestion.buffer_age_seconds, 9);
    assert_string_equal(cfg->ingestion.compression, "zstd");
    assert_true(cfg->wal.enabled);
    assert_string_equal(cfg->wal.dir, "/wal");
    assert_string_equal(cfg->wal.sync_mode, "fsync");
    assert_int_equal(cfg->wal.max_size_mb, 50);
    assert_int_equal(cfg->wal.max_age_seconds, 60);
    assert_int_equal(cfg->compaction.min_age_hours, 3);
    assert_string_equal(cfg->compaction.schedule, "*/15 * * * *");
    assert_int_equal(cfg->compaction.compression_level, 9);
    assert_int_equal(cfg->query_cache.ttl_seconds, 11);
    assert_int_equal(cfg->query_cache.max_result_mb, 12);
    assert_int_equal(cfg->duckdb.pool_size, 3);
    assert_false(cfg->duckdb.enable_object_cache);
    assert_int_equal(cfg->delete.max_rows_per_delete, 77);
    assert_string_equal(cfg->logging.level, "DEBUG");
    assert_string_equal(cfg->logging.format, "text");
    assert_int_equal(cfg->cors.origins.count, 1);
    assert_string_equal(cfg->cors.origins.items[0], "*");
    assert_int_equal(src_of(cfg, "storage.minio.secret_key"), CONFIG_SRC_ENV_LEGACY);

    /* Redacted dump hides every secret, shows the rest. */
    char *d = dump(cfg, true);
    assert_null(strstr(d, "0123456789abcdef0123456789abcdef"));
    assert_contains(d, "bootstrap_token = \"<redacted>\"");
    assert_contains(d, "access_key = \"<redacted>\"");
    assert_contains(d, "[storage.minio]\nendpoint = \"http://m:9000\"");
    assert_contains(d, "\n[storage.s3]\nbucket = \"\"\n");
    assert_contains(d, "secret_key = \"\"\n"); /* empty secrets stay visibly empty */
    xfree(d);
    d = dump(cfg, false);
    assert_contains(d, "bootstrap_token = \"0123456789abcdef0123456789abcdef\"");
    xfree(d);
    config_free(&cfg);
}

/* --- aliases in files and derived values
 * ----------------------------------------------------------- */

static void test_go_config_file_loads(void **state)
{
    (void)state;
    /* Shape of Arc (Go) arc.toml: aliases, and sections/keys we don't know. */
    char *path =
        write_tmp("arc.toml", "[server]\nport = 8000\ntls_enabled = false\n"
                              "max_payload_size = \"1.5GB\"\nworkers = 8\n"
                              "[log]\nlevel = \"info\"\nformat = \"console\"\n"
                              "[database]\nmax_connections = 28\nmemory_limit = \"8GB\"\n"
                              "thread_count = 14\nenable_wal = true\n"
                              "[storage]\nbackend = \"s3\"\nlocal_path = \"./data/arc\"\n"
                              "s3_bucket = \"arc-test\"\ns3_region = \"us-east-2\"\n"
                              "s3_endpoint = \"\"\ns3_use_ssl = false\ns3_path_style = true\n"
                              "[ingest]\nmax_buffer_size = 5000000\nmax_buffer_age_ms = 100\n"
                              "sort_keys = [\"cpu:host\"]\ndefault_sort_keys = \"\"\n"
                              "[compaction]\nenabled = true\nhourly_enabled = false\n"
                              "hourly_schedule = \"10 * * * *\"\nhourly_min_age_hours = 2\n"
                              "hourly_min_files = 11\ndaily_enabled = true\n"
                              "daily_schedule = \"0 4 * * *\"\ndaily_min_age_hours = 48\n"
                              "daily_min_files = 13\nmax_concurrent = 3\n"
                              "temp_directory = \"/tmp/c\"\ncycle_timeout = \"30m\"\n"
                              "[delete]\nenabled = true\n"
                              "[continuous_query]\nenabled = false\n"
                              "[scheduler]\nretention_schedule = \"0 1 * * *\"\n"
                              "[query]\ntimeout = 60\nenable_s3_cache = false\n"
                              "[telemetry]\nenabled = true\n"
                              "[tiered_storage]\nenabled = false\n"
                              "[tiered_storage.cold]\nbackend = \"s3\"\n"
                              "[wal]\nenabled = false\ndirectory = \"./w\"\n");
    uint64_t w0 = warns();
    struct config *cfg = load_ok(path, NULL);
    /* server.workers, database.enable_wal, ingest.default_sort_keys,
     * compaction.cycle_timeout, query.enable_s3_cache, [telemetry],
     * [tiered_storage] (its sub-table is not warned again) */
    assert_int_equal(warns() - w0, 7);
    assert_true(logged("section=[telemetry]"));
    assert_true(logged("key=server.workers"));
    assert_false(logged("section=[tiered_storage.cold]"));
    assert_int_equal(cfg->server.max_request_size_mb, 1536);
    assert_string_equal(cfg->logging.level, "INFO");
    assert_string_equal(cfg->logging.format, "text");
    assert_int_equal(cfg->duckdb.pool_size, 28);
    assert_string_equal(cfg->duckdb.memory_limit, "8GB");
    assert_int_equal(cfg->duckdb.threads, 14);
    assert_string_equal(cfg->storage.s3.bucket, "arc-test");
    assert_string_equal(cfg->storage.s3.region, "us-east-2");
    assert_false(cfg->storage.s3.use_ssl);
    assert_true(cfg->storage.s3.path_style);
    assert_int_equal(cfg->ingestion.buffer_size, 5000000);
    assert_int_equal(cfg->ingestion.buffer_age_seconds, 1); /* 100 ms rounds up */
    assert_int_equal(cfg->ingestion.sort_keys.count, 1);
    /* own compaction.enabled beats the hourly_enabled alias */
    assert_true(cfg->compaction.enabled);
    assert_string_equal(cfg->compaction.schedule, "10 * * * *");
    assert_int_equal(cfg->compaction.min_age_hours, 2);
    assert_int_equal(cfg->compaction.min_files, 11);
    assert_string_equal(cfg->compaction.daily.schedule, "0 4 * * *");
    assert_int_equal(cfg->compaction.daily.min_age_hours, 48);
    assert_int_equal(cfg->compaction.daily.min_files, 13);
    assert_int_equal(cfg->compaction.max_concurrent_jobs, 3);
    assert_string_equal(cfg->compaction.temp_dir, "/tmp/c");
    assert_false(cfg->continuous_queries.enabled);
    assert_string_equal(cfg->retention.schedule, "0 1 * * *");
    assert_int_equal(cfg->query.timeout_seconds, 60);
    assert_string_equal(cfg->wal.dir, "./w");
    assert_int_equal(src_of(cfg, "wal.dir"), CONFIG_SRC_FILE_ALIAS);
    config_free(&cfg);
    xfree(path);

    /* Alias type errors name the alias and the key. */
    const char *msg = file_fail("[ingest]\nmax_buffer_age_ms = \"5s\"\n", RC_INVALID);
    assert_contains(msg, "arc.toml:2: ingest.max_buffer_age_ms (alias of "
                         "ingestion.buffer_age_seconds): expected an integer (milliseconds), "
                         "got a string");
    msg = file_fail("[server]\nmax_payload_size = 0\n", RC_INVALID);
    assert_contains(msg, "size must be greater than 0");
    msg = file_fail("[log]\nformat = \"yaml\"\n", RC_INVALID);
    assert_contains(msg, "log.format (alias of logging.format): unknown value 'yaml'");
}

static void test_derived_values(void **state)
{
    (void)state;
    struct {
        const char *toml;
        int64_t age_s, req_mb;
    } cases[] = {
        {"[ingest]\nmax_buffer_age_ms = 5000\n", 5, 100},
        {"[ingest]\nmax_buffer_age_ms = 5001\n", 6, 100},
        {"[ingest]\nmax_buffer_age_ms = 1\n", 1, 100},
        {"[server]\nmax_payload_size = \"1GB\"\n", 5, 1024},
        {"[server]\nmax_payload_size = \"512 mb\"\n", 5, 512},
        {"[server]\nmax_payload_size = \"1.5MB\"\n", 5, 2},
        {"[server]\nmax_payload_size = \"100KiB\"\n", 5, 1},
        {"[server]\nmax_payload_size = 1048577\n", 5, 2},
        {"[server]\nmax_payload_size = \"2097152\"\n", 5, 2},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *path = write_tmp("arc.toml", cases[i].toml);
        struct config *cfg = load_ok(path, NULL);
        assert_int_equal(cfg->ingestion.buffer_age_seconds, cases[i].age_s);
        assert_int_equal(cfg->server.max_request_size_mb, cases[i].req_mb);
        config_free(&cfg);
        xfree(path);
    }
    /* max_buffer_age_ms = 0 -> 0 s, below the 1 s minimum */
    const char *msg = file_fail("[ingest]\nmax_buffer_age_ms = 0\n", RC_INVALID);
    assert_contains(msg, "0 is out of range 1..86400");

    char *path = write_tmp("arc.toml", "[server]\nio_threads = 3\n[duckdb]\nthreads = 0\n"
                                       "[ingestion]\nbuffer_size = 10\nbuffer_hard_limit = 0\n"
                                       "[compaction]\nmin_age_hours = 0\n");
    uint64_t w0 = warns();
    struct config *cfg = load_ok(path, NULL);
    assert_int_equal(cfg->server.io_threads, 3);
    assert_int_equal(cfg->duckdb.threads, ncpu());
    assert_int_equal(cfg->ingestion.buffer_hard_limit, 20);
    assert_int_equal(cfg->compaction.min_age_hours, 1);
    assert_int_equal(warns() - w0, 1);
    assert_true(logged("compaction.min_age_hours below 1"));
    config_free(&cfg);
    xfree(path);
    char *neg[] = {"ARC_COMPACTION_MIN_AGE_HOURS=-5", NULL};
    cfg = load_ok(NULL, neg);
    assert_int_equal(cfg->compaction.min_age_hours, 1);
    config_free(&cfg);
}

static void test_backend_database_alias(void **state)
{
    (void)state;
    /* Python-style per-backend database: only the configured backend's counts. */
    char *path = write_tmp("arc.toml", "[storage]\nbackend = \"minio\"\n"
                                       "[storage.local]\ndatabase = \"localdb\"\n"
                                       "[storage.minio]\ndatabase = \"miniodb\"\n"
                                       "access_key = \"a\"\nsecret_key = \"b\"\n");
    struct config *cfg = load_ok(path, NULL);
    assert_string_equal(cfg->storage.database, "miniodb");
    assert_int_equal(src_of(cfg, "storage.database"), CONFIG_SRC_FILE_ALIAS);
    config_free(&cfg);
    /* the backend may come from the environment */
    char *env[] = {"ARC_STORAGE_BACKEND=local", NULL};
    cfg = load_ok(path, env);
    assert_string_equal(cfg->storage.database, "localdb");
    config_free(&cfg);
    xfree(path);
    /* storage.database itself wins */
    path = write_tmp("arc.toml", "[storage]\ndatabase = \"main\"\n"
                                 "[storage.local]\ndatabase = \"localdb\"\n");
    cfg = load_ok(path, NULL);
    assert_string_equal(cfg->storage.database, "main");
    config_free(&cfg);
    xfree(path);
    /* and the alias value is checked */
    const char *msg = file_fail("[storage.local]\ndatabase = \"no good\"\n", RC_INVALID);
    assert_contains(msg, "arc.toml:2: storage.local.database (alias of storage.database)");
    /* auth.default_token [Py] */
    path = write_tmp("arc.toml", "[auth]\ndefault_token = \"abcdefghijabcdefghijabcdefghij12\"\n");
    cfg = load_ok(path, NULL);
    assert_string_equal(cfg->auth.bootstrap_token, "abcdefghijabcdefghijabcdefghij12");
    config_free(&cfg);
    xfree(path);
}

/* --- unknown keys --------------------------------------------------------------------------------
 */

static void test_unknown_keys_warn(void **state)
{
    (void)state;
    char *path = write_tmp("arc.toml", "rootkey = 1\n"
                                       "[server]\nworkers = 4\nport = 8001\n"
                                       "[telemetry]\nenabled = true\nendpoint = \"x\"\n"
                                       "[telemetry.sub]\na = 1\n"
                                       "[storage]\nfoo.bar = 1\nfoo.baz = 2\n"
                                       "[mqtt]\n");
    uint64_t w0 = warns();
    struct config *cfg = load_ok(path, NULL);
    assert_int_equal(cfg->server.port, 8001);
    /* rootkey, server.workers, [telemetry], [storage.foo], [mqtt] */
    assert_int_equal(warns() - w0, 5);
    assert_true(logged("key=rootkey"));
    assert_true(logged("key=server.workers"));
    assert_true(logged("section=[telemetry]"));
    assert_true(logged("section=[storage.foo]"));
    assert_true(logged("section=[mqtt]"));
    assert_true(logged("line=3")); /* workers is on line 3 */
    config_free(&cfg);
    xfree(path);
}

/* --- config_set
 * ----------------------------------------------------------------------------------- */

static void test_config_set(void **state)
{
    (void)state;
    char *e[] = {"ARC_SERVER_PORT=9000", NULL};
    struct config *cfg = load_ok(NULL, e);
    struct errbuf eb;
    errbuf_clear(&eb);
    assert_int_equal(config_set(cfg, "server.port", "9001", &eb), RC_OK);
    assert_int_equal(cfg->server.port, 9001);
    assert_int_equal(src_of(cfg, "server.port"), CONFIG_SRC_SET);

    /* aliases and text syntax */
    assert_int_equal(config_set(cfg, "log.level", "trace", &eb), RC_OK);
    assert_string_equal(cfg->logging.level, "DEBUG");
    assert_int_equal(config_set(cfg, "logging.level", "warn", &eb), RC_OK);
    assert_string_equal(cfg->logging.level, "WARNING");
    assert_int_equal(config_set(cfg, "wal.enabled", "on", &eb), RC_OK);
    assert_true(cfg->wal.enabled);
    assert_int_equal(config_set(cfg, "auth.allowlist", "/x,/y", &eb), RC_OK);
    assert_int_equal(cfg->auth.allowlist.count, 2);

    /* invalid: error names the key and --set; cfg unchanged */
    char *before = dump(cfg, false);
    errbuf_clear(&eb);
    assert_int_equal(config_set(cfg, "server.port", "0", &eb), RC_INVALID);
    assert_contains(eb.msg, "--set: server.port: 0 is out of range");
    errbuf_clear(&eb);
    assert_int_equal(config_set(cfg, "storage.backend", "s3", &eb), RC_INVALID);
    assert_contains(eb.msg, "storage.s3.bucket: required");
    errbuf_clear(&eb);
    assert_int_equal(config_set(cfg, "no.such_key", "1", &eb), RC_INVALID);
    assert_contains(eb.msg, "unknown key 'no.such_key'");
    errbuf_clear(&eb);
    assert_int_equal(config_set(cfg, "wal.enabled", "perhaps", &eb), RC_INVALID);
    char *after = dump(cfg, false);
    assert_string_equal(before, after);
    xfree(before);
    xfree(after);
    assert_int_equal(cfg->server.port, 9001);

    /* derived values follow */
    errbuf_clear(&eb);
    assert_int_equal(config_set(cfg, "ingestion.buffer_size", "10", &eb), RC_OK);
    assert_int_equal(cfg->ingestion.buffer_hard_limit, 20);
    assert_int_equal(config_set(cfg, "ingestion.buffer_hard_limit", "15", &eb), RC_OK);
    assert_int_equal(config_set(cfg, "ingestion.buffer_size", "12", &eb), RC_OK);
    assert_int_equal(cfg->ingestion.buffer_hard_limit, 15); /* explicit now: stays */
    assert_int_equal(config_set(cfg, "ingestion.buffer_size", "16", &eb), RC_INVALID);
    assert_contains(eb.msg, "--set: ingestion.buffer_hard_limit: 15 is below");
    errbuf_clear(&eb);
    assert_int_equal(config_set(cfg, "ingestion.buffer_hard_limit", "0", &eb), RC_OK);
    assert_int_equal(cfg->ingestion.buffer_hard_limit, 24);
    assert_int_equal(config_set(cfg, "server.io_threads", "0", &eb), RC_OK);
    assert_int_equal(cfg->server.io_threads, ncpu());
    assert_int_equal(config_set(cfg, "server.max_payload_size", "2GB", &eb), RC_OK);
    assert_int_equal(cfg->server.max_request_size_mb, 2048);
    assert_int_equal(config_set(cfg, "compaction.min_age_hours", "0", &eb), RC_OK);
    assert_int_equal(cfg->compaction.min_age_hours, 1);
    assert_int_equal(config_set(cfg, "storage.s3.bucket", "b", &eb), RC_OK);
    assert_int_equal(config_set(cfg, "storage.backend", "s3", &eb), RC_OK);
    assert_string_equal(cfg->storage.backend, "s3");
    errbuf_clear(&eb);
    assert_int_equal(config_validate(cfg, &eb), RC_OK);
    config_free(&cfg);
}

/* --- dump and the repository example
 * -------------------------------------------------------------- */

static void test_dump_roundtrip(void **state)
{
    (void)state;
    char *env[] = {"ARC_STORAGE_S3_SECRET_KEY=sk\"with\\quote\nnl", "ARC_STORAGE_S3_ACCESS_KEY=ak",
                   "ARC_INGESTION_SORT_KEYS=cpu:host,region", "ARC_SERVER_HOST=::1", NULL};
    struct config *a = load_ok(NULL, env);
    char *text = dump(a, false);
    char *path = write_tmp("dump.toml", text);
    struct config *b = load_ok(path, NULL);
    char *text2 = dump(b, false);
    assert_string_equal(text, text2);
    assert_string_equal(b->storage.s3.secret_key, "sk\"with\\quote\nnl");
    assert_int_equal(src_of(b, "storage.s3.secret_key"), CONFIG_SRC_FILE);
    config_free(&a);
    config_free(&b);
    xfree(text);
    xfree(text2);
    xfree(path);

    /* A capped buffer gets RC_LIMIT and stays as it was. */
    struct config *c = config_new();
    struct strbuf sb;
    strbuf_init(&sb, 64);
    assert_int_equal(strbuf_puts(&sb, "x"), RC_OK);
    assert_int_equal(config_dump_toml(c, &sb, true), RC_LIMIT);
    assert_string_equal(sb.data, "x");
    strbuf_cleanup(&sb);
    config_free(&c);
}

static void test_repository_example_equals_defaults(void **state)
{
    (void)state;
    /* __FILE__ is <root>/tests/unit/util/test_config.c */
    char root[PATH_MAX];
    snprintf(root, sizeof(root), "%s", __FILE__);
    char *cut = strstr(root, "tests/unit/util/test_config.c");
    assert_non_null(cut);
    snprintf(cut, sizeof(root) - (size_t)(cut - root), "arc.toml");

    /* ARC_REGENERATE_EXAMPLE=1 rewrites the file from the key table first. */
    const char *regen = getenv("ARC_REGENERATE_EXAMPLE");
    if (regen && strcmp(regen, "1") == 0) {
        struct strbuf g;
        strbuf_init(&g, 0);
        assert_int_equal(config_write_example(&g), RC_OK);
        FILE *w = fopen(root, "wb");
        assert_non_null(w);
        assert_int_equal(fwrite(g.data, 1, g.len, w), g.len);
        assert_int_equal(fclose(w), 0);
        strbuf_cleanup(&g);
        fprintf(stderr, "rewrote %s\n", root);
    }

    uint64_t w0 = warns();
    struct config *file = load_ok(root, NULL);
    assert_int_equal(warns(), w0); /* no unknown keys */
    struct config *defs = config_new();
    char *a = dump(file, false);
    char *b = dump(defs, false);
    assert_string_equal(a, b);
    /* every key is spelled out in the file */
    for (size_t i = 0; i < config_key_count(); i++) {
        enum config_source s;
        assert_true(config_key_source(file, config_key_name(i), &s));
        if (s != CONFIG_SRC_FILE)
            fprintf(stderr, "arc.toml lacks %s\n", config_key_name(i));
        assert_int_equal(s, CONFIG_SRC_FILE);
    }
    /* and it is exactly what the generator writes (docs can't drift) */
    struct strbuf gen;
    strbuf_init(&gen, 0);
    assert_int_equal(config_write_example(&gen), RC_OK);
    FILE *f = fopen(root, "rb");
    assert_non_null(f);
    char *text = calloc(1, gen.len + 2);
    size_t n = fread(text, 1, gen.len + 1, f);
    fclose(f);
    if (n != gen.len || memcmp(text, gen.data, n) != 0)
        fprintf(stderr, "arc.toml differs from config_write_example(); regenerate it\n");
    assert_int_equal(n, gen.len);
    assert_memory_equal(text, gen.data, n);
    free(text);
    strbuf_cleanup(&gen);
    xfree(a);
    xfree(b);
    config_free(&file);
    config_free(&defs);
}

static int group_setup(void **state)
{
    (void)state;
    log_configure(LOG_INFO, LOG_FORMAT_TEXT, 256);
    /* Run where no ./arc.toml can be found by accident. */
    snprintf(empty_dir, sizeof(empty_dir), "/tmp/arc-cfg-test-XXXXXX");
    if (!mkdtemp(empty_dir) || chdir(empty_dir) != 0)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    log_shutdown();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_consistent),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_lookup_order),
        cmocka_unit_test(test_toml_values),
        cmocka_unit_test(test_toml_errors),
        cmocka_unit_test(test_toml_dotted_and_multiline_in_config),
        cmocka_unit_test(test_file_value_errors),
        cmocka_unit_test(test_cross_key_errors),
        cmocka_unit_test(test_env_precedence),
        cmocka_unit_test(test_env_value_syntax),
        cmocka_unit_test(test_legacy_env_table),
        cmocka_unit_test(test_go_config_file_loads),
        cmocka_unit_test(test_derived_values),
        cmocka_unit_test(test_backend_database_alias),
        cmocka_unit_test(test_unknown_keys_warn),
        cmocka_unit_test(test_config_set),
        cmocka_unit_test(test_dump_roundtrip),
        cmocka_unit_test(test_repository_example_equals_defaults),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
