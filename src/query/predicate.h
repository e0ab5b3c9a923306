/*
 * query/predicate.h — the restricted predicate grammar of SPEC §8.4, used by
 * `where` of GET /api/v1/query/{measurement} and of POST /api/v1/delete.
 *
 * The text is parsed into a small tree and re-rendered by us: identifiers
 * double-quoted, strings single-quoted with '' escapes, numbers checked,
 * every sub-expression parenthesised. User text therefore never reaches
 * DuckDB verbatim; subqueries, function calls (other than now()), casts,
 * comments, ';' and arithmetic outside `time_expr` are syntax errors.
 *
 *   predicate   = disjunction
 *   disjunction = conjunction { OR conjunction }
 *   conjunction = negation { AND negation }
 *   negation    = [ NOT ] primary
 *   primary     = "(" predicate ")" | comparison | in_list | between | null_test | like | boolean
 *   comparison  = operand ( = | != | <> | < | <= | > | >= ) operand
 *   in_list     = column [ NOT ] IN "(" literal { "," literal } ")"
 *   between     = operand [ NOT ] BETWEEN operand AND operand
 *   null_test   = column IS [ NOT ] NULL
 *   like        = column [ NOT ] ( LIKE | ILIKE ) string
 *   operand     = column | literal | time_expr
 *   time_expr   = ( now() | CURRENT_TIMESTAMP | TIMESTAMP string ) [ (+|-) INTERVAL string ]
 *   literal     = string | number | TRUE | FALSE | NULL
 *   boolean     = TRUE | FALSE | number
 *
 * Keywords are case-insensitive and reserved (a column named `and` must be
 * quoted). A leading WHERE keyword is ignored. Strings compared with the
 * `time` column (=, <>, <, BETWEEN, IN) and TIMESTAMP strings must be RFC
 * 3339 / ISO-8601 timestamps and are rendered as TIMESTAMPTZ literals in
 * UTC; INTERVAL strings are '<integer> <unit>' with unit second(s) ...
 * year(s). Limits: PRED_MAX_CHARS characters, PRED_MAX_NODES tree nodes,
 * PRED_MAX_DEPTH nesting (parentheses and NOT).
 *
 * Rendering example:
 *   host = 'a' AND NOT (usage > 90.5 OR time < now() - INTERVAL '1 hour')
 *   -> (("host" = 'a') AND (NOT (("usage" > 90.5) OR ("time" < (now() - INTERVAL '1 hour')))))
 *
 * Threads: a parsed predicate is immutable; any thread may render it.
 */
#ifndef QUERY_PREDICATE_H
#define QUERY_PREDICATE_H

#include <stdbool.h>
#include <stddef.h>

#include "util/rc.h"
#include "util/strbuf.h"

#define PRED_MAX_CHARS 4096
#define PRED_MAX_NODES 256
#define PRED_MAX_DEPTH 32

struct pred;

/* Parses text[0..len). On success *out is the tree (free with pred_free).
 * RC_INVALID with a message naming the position and what was expected
 * ("where: function calls are not allowed at position 9") for anything
 * outside the grammar, an invalid timestamp or interval, or a limit. On
 * error *out is NULL. */
int pred_parse(const char *text, size_t len, struct pred **out, struct errbuf *eb) MUST_CHECK;

/* Frees the tree; sets *p to NULL. Accepts NULL. */
void pred_free(struct pred **p);

/* Appends the SQL rendering (fully parenthesised) to out. RC_LIMIT if out
 * is capped and full. */
int pred_render(const struct pred *p, struct strbuf *out) MUST_CHECK;

/* Distinct column names the predicate references, in order of first use
 * (unescaped, as the user meant them). Valid while p lives. */
size_t pred_column_count(const struct pred *p);
const char *pred_column(const struct pred *p, size_t i);

/* True if no column is referenced (e.g. "1=1", "TRUE", "1"): a delete with
 * such a predicate is a full-table delete (SPEC §8.3 rule 4). */
bool pred_is_constant(const struct pred *p);

/* Convenience: parse text and append its rendering to out. */
int pred_to_sql(const char *text, size_t len, struct strbuf *out, struct errbuf *eb) MUST_CHECK;

#endif
