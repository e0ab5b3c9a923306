/*
 * query/query_internal.h — parts of the query engine shared between the .c
 * files of src/query/ (and white-box tests in tests/unit/query/). Not a
 * contract for other modules: use query.h.
 *
 *   check.c    qlex_* SQL lexer, qcheck_* special commands, statement shape
 *   rewrite.c  qrewrite_* measurement resolution and time bounds from
 *              DuckDB's JSON parse tree, splicing the rewritten SQL
 *   bufscan.c  qscan_* the arc_buffer_scan table function and its
 *              snapshot registry (fresh reads of buffered rows)
 *   pool.c     dbpool_* connection slots (SPEC §11 R1)
 *   watchdog.c qwatch_* query deadlines → duckdb_interrupt
 *   special.c  qspecial_* SHOW / DESCRIBE
 *   engine.c   the public API of query.h
 */
#ifndef QUERY_QUERY_INTERNAL_H
#define QUERY_QUERY_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <duckdb.h>

#include "ingest/batch.h"
#include "query/query.h"
#include "util/rc.h"
#include "util/strbuf.h"

/* ======================================================================
 * check.c — lexer and statement shape
 * ====================================================================== */

enum qlex_kind {
    QTOK_END = 0, /* no more tokens */
    QTOK_WORD,    /* unquoted identifier or keyword */
    QTOK_QIDENT,  /* "quoted identifier" */
    QTOK_STRING,  /* '...', E'...', $$...$$ */
    QTOK_NUMBER,  /* digits, ., exponent */
    QTOK_PARAM,   /* $1 or ? */
    QTOK_PUNCT,   /* one character: ( ) , . ; and operators */
    QTOK_ERROR,   /* unterminated string, identifier or comment */
};

struct qlex_tok {
    enum qlex_kind kind;
    size_t start, end; /* byte range in the text */
};

/* Tokenizer over s[0..n) following DuckDB's (PostgreSQL's) lexical rules
 * closely enough to find token boundaries: whitespace, -- and nested block
 * comments are skipped. Not thread-safe (one owner). */
struct qlex {
    const char *s;
    size_t n;
    size_t pos;
};

void qlex_init(struct qlex *lx, const char *s, size_t n);
/* Next significant token (comments and whitespace skipped). */
void qlex_next(struct qlex *lx, struct qlex_tok *t);
/* True if t is the unquoted word `kw` (ASCII case-insensitive). */
bool qlex_is_word(const struct qlex *lx, const struct qlex_tok *t, const char *kw);
/* True if t is the punctuation character c. */
bool qlex_is_punct(const struct qlex *lx, const struct qlex_tok *t, char c);
/* The identifier value of a WORD (as written) or QIDENT (quotes removed,
 * "" unescaped) into out (NUL-terminated). Returns false if t is not an
 * identifier or the value does not fit in cap - 1 bytes. */
bool qlex_ident(const struct qlex *lx, const struct qlex_tok *t, char *out, size_t cap);

/* A parsed special command (SPEC §4.5). */
struct qspecial {
    enum query_kind kind; /* QUERY_SELECT = not a special command */
    bool has_db;          /* FROM db / db.table given */
    char db[DB_NAME_MAX + 1];
    char table[MEASUREMENT_NAME_MAX + 1];
};

/* Recognises SHOW DATABASES, SHOW TABLES|MEASUREMENTS [FROM db],
 * DESCRIBE|DESC [db.]table as the whole text (comments, whitespace and one
 * trailing ';' allowed, keywords case-insensitive, names optionally
 * double-quoted). out->kind = QUERY_SELECT if the text is something else.
 * RC_INVALID if it is a special command with an invalid name (§0.4). */
int qcheck_special(const char *sql, size_t n, struct qspecial *out, struct errbuf *eb) MUST_CHECK;

/* The statement's shape, from the lexer: */
struct qshape {
    size_t body_end;      /* text[0..body_end) is the statement without a trailing ';' */
    bool empty;           /* nothing but comments / whitespace / ';' */
    bool explain;         /* starts with EXPLAIN [ANALYZE] [(options)] */
    size_t inner_start;   /* explain: where the explained statement starts; else 0 */
    char first_word[24];  /* first keyword upper-cased (for messages), "" if none */
    char second_word[24]; /* the statement keyword after EXPLAIN [ANALYZE] */
    char kind[56];        /* what a refusal calls the statement: "INSERT",
                             "EXPLAIN COPY"; for WITH ... the first top-level
                             SELECT/INSERT/UPDATE/DELETE/MERGE keyword */
};

/* Fills *out. Never fails: a lexical error leaves the text as it is, and
 * DuckDB's parser reports it. */
void qcheck_shape(const char *sql, size_t n, struct qshape *out);

/* Statement-type name for messages ("INSERT", "COPY", ...). */
const char *qcheck_statement_type_name(duckdb_statement_type t);

/* Maps a DuckDB error type to an RC_* code (SPEC §4.2 statuses). */
int qcheck_rc_for_error(duckdb_error_type t);

/* Number of UTF-8 characters in s[0..n). */
size_t qcheck_utf8_chars(const char *s, size_t n);

/* Appends s as a SQL string literal ('...' with '' doubled). */
int qcheck_append_literal(struct strbuf *sb, const char *s, size_t n) MUST_CHECK;
/* Appends s as a quoted SQL identifier ("..." with "" doubled). */
int qcheck_append_ident(struct strbuf *sb, const char *s, size_t n) MUST_CHECK;

/* ======================================================================
 * rewrite.c — measurement references and time bounds
 * ====================================================================== */

/* Scalar functions DuckDB declares CONSISTENT (same result for the same
 * input), loaded once from duckdb_functions(); bound expressions may only
 * use these (plus now-like functions, see rewrite.c). Sorted for bsearch. */
struct qfuncs {
    char **names;
    size_t n;
};
void qfuncs_free(struct qfuncs *f);
bool qfuncs_has(const struct qfuncs *f, const char *name);

enum qbound_kind { QB_GE = 0, QB_GT, QB_LE, QB_LT, QB_EQ };

struct qj;    /* a node of rewrite.c's JSON tree */
struct qjdoc; /* a parsed JSON document (rewrite.c) */

/* One constant bound on `time` found in a WHERE clause. */
struct qbound {
    const struct qj *expr; /* the constant side, a node of the parse tree */
    enum qbound_kind kind; /* as seen from `time <kind> expr` */
    bool now_dependent;    /* uses now(): valid only as a lower bound */
    bool evaluated;        /* value_us holds the value */
    bool exact;            /* the value's type has microsecond precision or less */
    int64_t value_us;
};

/* One table reference that resolves to a measurement. */
struct qref {
    const struct qj *node; /* the BASE_TABLE node */
    size_t loc, end;       /* byte range of the name chain in the text */
    bool has_alias;        /* the user gave an alias (kept as written) */
    bool bare;             /* SUMMARIZE tbl: replace by a whole SELECT */
    size_t meas;           /* index into qrewrite.meas */
    struct qbound *bounds; /* WHERE conjuncts on this table's time */
    size_t nbounds;
    int64_t from_us, to_us; /* [from, to) after evaluation; full range if none */
    bool empty_range;       /* contradictory bounds: no file can match */
};

/* A distinct (database, measurement) of the query. */
struct qmeas {
    char db[DB_NAME_MAX + 1];
    char name[MEASUREMENT_NAME_MAX + 1];
};

struct qrewrite {
    const char *text; /* the statement text that was serialised */
    size_t len;
    struct qjdoc *doc; /* json_serialize_sql output, owned */
    struct qref *refs;
    size_t nrefs, refs_cap;
    struct qmeas *meas;
    size_t nmeas, meas_cap;
    bool *no_prune;             /* parallel to refs: pruning unsafe for this ref */
    const struct qfuncs *funcs; /* borrowed */
    const char *default_db;     /* borrowed */
};

/* Parses DuckDB's JSON parse tree `json` of `text` (one SELECT statement)
 * and collects the measurement references (SPEC §4.4) and their time
 * bounds. The rewrite keeps pointers into text and takes ownership of
 * nothing else; free with qrewrite_cleanup. RC_INVALID for invalid names,
 * three-part names or a reference that cannot be located in the text. */
int qrewrite_analyze(struct qrewrite *rw, const char *text, size_t len, const char *json,
                     size_t json_len, const char *default_db, const struct qfuncs *funcs,
                     struct errbuf *eb) MUST_CHECK;
void qrewrite_cleanup(struct qrewrite *rw);

/* Number of bounds that need evaluating. If > 0, builds the JSON parse tree
 * of "SELECT <e0> AS c0, <e1> AS c1, ..." into sb from the template
 * head/tail (the text of "SELECT 1" serialised, split around its select
 * list); the caller deserialises and evaluates it and stores the values
 * with qrewrite_set_value(i, ...) in the same order. */
size_t qrewrite_bound_count(const struct qrewrite *rw);
int qrewrite_eval_json(const struct qrewrite *rw, const char *tpl_head, const char *tpl_tail,
                       struct strbuf *sb) MUST_CHECK;
void qrewrite_set_value(struct qrewrite *rw, size_t i, bool valid, bool exact, int64_t value_us);
/* Turns evaluated bounds into each ref's [from_us, to_us) (full range when
 * pruning is off). */
void qrewrite_compute_ranges(struct qrewrite *rw, bool pruning);

/* Writes the rewritten statement into out: each reference's name chain is
 * replaced by "(<view(ctx, ref index)>)" plus ` AS "<name>"` when the user
 * gave no alias. view() appends the subquery text to sb. */
typedef int (*qrewrite_view_fn)(void *ctx, size_t ref, struct strbuf *sb);
int qrewrite_splice(const struct qrewrite *rw, qrewrite_view_fn view, void *ctx,
                    struct strbuf *out) MUST_CHECK;

/* Splits the serialised "SELECT 1" around the contents of its select list
 * into xmalloc'ed *head (ends with '[') and *tail (starts with ']'), the
 * template of qrewrite_eval_json. RC_INTERNAL if the shape is unexpected. */
int qrewrite_template_split(const char *json, size_t n, char **head, char **tail) MUST_CHECK;

/* ======================================================================
 * bufscan.c — arc_buffer_scan(BIGINT): buffered rows of one snapshot
 * ====================================================================== */

struct qscan_col {
    char *name; /* owned */
    enum col_type type;
};

/* Rows of one measurement that were in the write buffer at snapshot time,
 * plus the column set the scan declares (time + cols, sorted by name).
 * Refcounted: the registry, the cursor and every bind hold references. */
struct qscan_snapshot {
    _Atomic int refs;
    uint64_t id;            /* registry key, the function's argument */
    idx_t conn_id;          /* only this connection may scan it */
    struct batch **batches; /* owned references (colbuf_snapshot) */
    size_t nbatches;
    struct qscan_col *cols; /* owned */
    size_t ncols;
};

/* Creates a snapshot holding batches[0..n) (takes over the references and
 * the array) and columns cols[0..ncols) (takes over the array and names).
 * One reference for the caller. */
struct qscan_snapshot *qscan_snapshot_new(struct batch **batches, size_t n, struct qscan_col *cols,
                                          size_t ncols, idx_t conn_id);
void qscan_snapshot_unref(struct qscan_snapshot **sp);

/* Makes the snapshot visible to arc_buffer_scan(id) (takes a reference)
 * and forgets it again. Thread-safe. */
void qscan_register(struct qscan_snapshot *s);
void qscan_unregister(struct qscan_snapshot *s);
/* Snapshots currently registered (tests: leaks). */
size_t qscan_registered_count(void);

/* Registers the table function in the database of connection c (once per
 * database; it is visible to every connection). */
int qscan_register_function(duckdb_connection c, struct errbuf *eb) MUST_CHECK;

/* ======================================================================
 * pool.c — connection slots (SPEC §11 R1)
 * ====================================================================== */

enum dbpool_slot_state { SLOT_IDLE = 0, SLOT_IN_USE, SLOT_REPLACING, SLOT_EMPTY };

/* What the borrower says about a connection it returns. */
enum dbpool_health {
    DBPOOL_HEALTHY = 0, /* back to idle */
    DBPOOL_CHECK,       /* run a trivial query first; replace if it fails */
    DBPOOL_REPLACE,     /* close it and open a new one */
};

struct dbpool;

struct dbpool_conn {
    unsigned slot;
    duckdb_connection conn;
    idx_t conn_id;       /* DuckDB's connection id (client context) */
    uint64_t generation; /* pool generation when the connection was opened */
};

struct dbpool_options {
    unsigned size;
    unsigned max_queue;
    int64_t acquire_timeout_ms;
};

/* Creates the slots and tries to open every connection (a slot whose
 * connection cannot be opened starts empty). db must outlive the pool. */
int dbpool_new(duckdb_database db, const struct dbpool_options *o, struct dbpool **out,
               struct errbuf *eb) MUST_CHECK;
/* Closes every connection. No borrower may remain. Sets *p to NULL. */
void dbpool_free(struct dbpool **p);

/* Borrows a connection: an idle slot, else an empty slot whose connection
 * this thread opens (outside the lock), else waits (at most max_queue
 * waiters) until acquire_timeout_ms. RC_BUSY when the queue is full or the
 * wait timed out; RC_DB when opening a connection failed. *wait_ms is the
 * time spent. */
int dbpool_acquire(struct dbpool *p, struct dbpool_conn *out, double *wait_ms,
                   struct errbuf *eb) MUST_CHECK;
/* Returns a borrowed connection exactly once. Checking, closing and opening
 * happen outside the pool lock. */
void dbpool_release(struct dbpool *p, struct dbpool_conn *c, enum dbpool_health h);

/* Marks every connection for replacement (idle ones now, by this thread;
 * borrowed ones when returned). For tests and operators. */
void dbpool_invalidate_all(struct dbpool *p);

struct dbpool_counts {
    unsigned size, idle, in_use, replacing, empty, waiting, max_queue;
    uint64_t acquire_timeouts, replacements, replacement_failures;
    int64_t max_lock_wait_ns; /* longest wait for the pool lock so far (any pool) */
};
void dbpool_counts(struct dbpool *p, struct dbpool_counts *out);

/* Tests: every connection attempt fails while on (T1.3). */
void dbpool_test_fail_connects(struct dbpool *p, bool on);

/* The engine's pool (engine.c), for tests and the metrics endpoint. */
struct dbpool *query__engine_pool(struct query_engine *qe);

/* ======================================================================
 * watchdog.c — deadlines
 * ====================================================================== */

struct qwatch;

/* A watched query; embedded in the cursor. Fields are private to watchdog.c. */
struct qwatch_entry {
    struct qwatch_entry *prev, *next;
    duckdb_connection conn;
    int64_t deadline_ms; /* time_mono_ms() based */
    atomic_bool fired;   /* duckdb_interrupt was called */
    bool linked;
};

int qwatch_start(struct qwatch **out, struct errbuf *eb) MUST_CHECK;
void qwatch_stop(struct qwatch **w);
/* Starts watching: after deadline_ms the connection is interrupted. */
void qwatch_add(struct qwatch *w, struct qwatch_entry *e, duckdb_connection conn,
                int64_t deadline_ms);
/* Stops watching; after it returns the watchdog never touches conn again. */
void qwatch_remove(struct qwatch *w, struct qwatch_entry *e);

/* ======================================================================
 * special.c — SHOW / DESCRIBE
 * ====================================================================== */

struct qspecial_ctx {
    struct catalog *cat;
    struct colbuf *cb;
    struct storage *st;
    const char *base_path; /* storage root as configured, for storage_path */
    const char *data_root; /* absolute storage root, for marker databases */
};

/* Builds the SQL that produces the command's result (VALUES over catalog
 * data). For DESCRIBE of a measurement whose columns the catalog does not
 * know, *needs_view is set and the caller must describe the measurement's
 * view instead. RC_INVALID for an unknown table. */
int qspecial_sql(const struct qspecial_ctx *ctx, const struct qspecial *sp, const char *db,
                 struct strbuf *out, bool *needs_view, struct errbuf *eb) MUST_CHECK;

#endif
