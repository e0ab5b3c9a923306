/*
 * util/faults.h — fault-injection hooks for tests (SPEC §11).
 *
 * The variable ARC_TEST_FAULTS holds a comma-separated list of `name` or
 * `name=value` entries, e.g.
 *
 *   ARC_TEST_FAULTS=duckdb_connect_fail_every=2,duckdb_mark_unhealthy_after_query
 *
 * It is read once, at the first call of either function. The hooks exist
 * only when ARC_TEST_HOOKS is defined (CMake option ARC_TEST_HOOKS, on by
 * default); without it both functions return "not enabled" / dflt and the
 * variable is never read, so a release build cannot be made to misbehave.
 *
 * Known names (grep for them): duckdb_connect_fail_every=N (every Nth DuckDB
 * connection attempt of the query pool fails), duckdb_mark_unhealthy_after_query
 * (every query's connection is replaced when returned to the pool).
 *
 * Thread-safe: the parsed table is immutable after the first call.
 */
#ifndef UTIL_FAULTS_H
#define UTIL_FAULTS_H

#include <stdbool.h>

/* True if `name` is listed (with any value other than "0"/"false"/"off"). */
bool faults_enabled(const char *name);

/* The integer value of `name=value`, or dflt if the name is absent, has no
 * value or the value is not an integer. */
long faults_value(const char *name, long dflt);

/* Re-reads ARC_TEST_FAULTS. For tests only: no other thread may be calling
 * faults_enabled / faults_value at the same time. */
void faults_reload(void);

#endif
