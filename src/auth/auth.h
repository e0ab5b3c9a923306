/*
 * auth/auth.h — API tokens: storage, verification, permissions, the
 * verification cache, bootstrap, and the pure helpers the HTTP layer uses to
 * decide a request (SPEC §5). See docs/auth.md.
 *
 * The module knows nothing about HTTP: the api layer (api/api_auth.c) reads
 * the request's headers into a struct auth_creds, calls auth_authorize and
 * turns the decision into a response. Everything that decides something is
 * here and unit-tested without a server.
 *
 * Permissions are bit masks (AUTH_PERM_*); ADMIN implies every other one.
 * Times are microseconds since the epoch, UTC (_us) as everywhere in Arc.
 *
 * Secrets: a token value is never stored, logged or returned except as the
 * out_secret of auth_token_create / auth_token_rotate. Error messages put in
 * an errbuf never contain a token.
 *
 * Threads: every function taking a struct auth * is thread-safe. HTTP I/O
 * threads call only auth_authorize_cached (the cache, never the store);
 * HTTP worker threads call auth_authorize (a cache miss reads the SQLite
 * store), auth_check and the CRUD functions, concurrently. auth_open /
 * auth_close run on the main thread. The pure helpers (no struct auth *)
 * use no shared state.
 */
#ifndef AUTH_AUTH_H
#define AUTH_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/config.h"
#include "util/json.h"
#include "util/jsonw.h"
#include "util/rc.h"

/* --- permissions ------------------------------------------------------------ */

#define AUTH_PERM_READ 0x1u
#define AUTH_PERM_WRITE 0x2u
#define AUTH_PERM_DELETE 0x4u
#define AUTH_PERM_ADMIN 0x8u
#define AUTH_PERM_ALL (AUTH_PERM_READ | AUTH_PERM_WRITE | AUTH_PERM_DELETE | AUTH_PERM_ADMIN)
#define AUTH_PERM_DEFAULT (AUTH_PERM_READ | AUTH_PERM_WRITE) /* SPEC §5.5 */

/* Limits (SPEC §5.1). Name and description are counted in characters (UTF-8
 * code points); the byte buffers below allow 4 bytes per character. */
#define AUTH_NAME_MAX_CHARS 100
#define AUTH_DESC_MAX_CHARS 500
#define AUTH_NAME_MAX_BYTES (AUTH_NAME_MAX_CHARS * 4)
/* Longest token value accepted from a request; longer ones are invalid. */
#define AUTH_TOKEN_MAX_BYTES 512
/* Generated tokens: 32 CSPRNG bytes, base64url without padding. */
#define AUTH_TOKEN_GEN_CHARS 43
/* Minimum length of an operator-supplied bootstrap token. */
#define AUTH_BOOTSTRAP_MIN_CHARS 32
/* PBKDF2-HMAC-SHA256 iterations for operator-supplied tokens (SPEC §5.7). */
#define AUTH_PBKDF2_ITERATIONS 600000

/* "read", "write", "delete", "admin" for one bit; "none" for 0 or several. */
const char *auth_perm_name(unsigned bit);

/* Parses a comma-separated permission list ("read, Write"), case-insensitive,
 * spaces around items ignored, empty items skipped; "" gives 0. ORs the bits
 * into *mask. RC_INVALID naming the unknown value otherwise (*mask then holds
 * the items before it). */
int auth_perms_parse(const char *s, size_t len, unsigned *mask, struct errbuf *eb) MUST_CHECK;

/* Parses "permissions" from a JSON body: an array of strings ([Go]) or a
 * comma-separated string ([Py]). An empty array means no permissions.
 * RC_INVALID for other types, non-string elements or unknown values. */
int auth_perms_from_json(const struct json_value *v, unsigned *out, struct errbuf *eb) MUST_CHECK;

/* Writes "read,write,delete,admin" (in that order, only the set bits; "" for
 * 0) into out. Returns the length (truncated to cap-1). */
size_t auth_perms_format(unsigned mask, char *out, size_t cap);

/* Writes the mask as a JSON array of names, in the order above. */
void auth_perms_write_json(struct jsonw *w, unsigned mask);

/* True if a token holding `have` may use something that needs `needed`
 * (0 = any valid token). ADMIN implies everything; the others are
 * independent (write does not imply read). */
bool auth_perms_allow(unsigned have, unsigned needed);

/* --- validation and durations ------------------------------------------------ */

/* Token name: 1..100 characters of valid UTF-8, no control characters.
 * RC_INVALID with a message otherwise. */
int auth_validate_name(const char *name, size_t len, struct errbuf *eb) MUST_CHECK;
/* Description: up to 500 characters of valid UTF-8. */
int auth_validate_description(const char *desc, size_t len, struct errbuf *eb) MUST_CHECK;

/* Parses an `expires_in` duration ([Go]): one or more <number><unit> groups,
 * units ms, s, m, h, d (and w), decimals allowed ("1.5h"), e.g. "90m", "24h",
 * "1h30m", "7d". The total must be positive and at most 100 years. Returns
 * RC_OK with microseconds in *out_us, or RC_INVALID. */
int auth_parse_duration(const char *s, int64_t *out_us, struct errbuf *eb) MUST_CHECK;

/* --- token extraction (SPEC §5.2) ------------------------------------------- */

/* Raw credential sources of one request; NULL = absent. */
struct auth_creds {
    const char *authorization; /* Authorization header value */
    const char *x_api_key;     /* x-api-key header value */
    const char *query_p;       /* URL query parameter `p` (URL-decoded) */
};

enum auth_cred_source {
    AUTH_SRC_NONE = 0,
    AUTH_SRC_AUTHORIZATION,
    AUTH_SRC_API_KEY,
    AUTH_SRC_QUERY,
};

enum auth_extract_result {
    AUTH_CREDS_NONE = 0,  /* nothing presented -> "Authentication required" */
    AUTH_CREDS_OK,        /* token copied out */
    AUTH_CREDS_MALFORMED, /* something presented but unusable -> "Invalid or expired token" */
};

/* Picks the token from the first present source, in SPEC §5.2 order:
 * Authorization (`Bearer t`, `Token t`, `Basic base64(user:password)` ->
 * password, or user if the password is empty, or a bare `t`; scheme names
 * are case-insensitive), then x-api-key, then query `p`. A source that is
 * absent or only whitespace counts as not present. A present source that
 * yields no usable token (empty Bearer, bad base64, Basic without ':', a
 * token longer than AUTH_TOKEN_MAX_BYTES or containing control characters)
 * gives AUTH_CREDS_MALFORMED: later sources are not consulted. out (cap
 * bytes, at least AUTH_TOKEN_MAX_BYTES + 1 recommended) receives the token,
 * NUL-terminated, when AUTH_CREDS_OK; *src gets the source used (may be
 * NULL). */
enum auth_extract_result auth_extract_token(const struct auth_creds *c, char *out, size_t cap,
                                            enum auth_cred_source *src);

/* Standard base64 decoding (padding optional, no whitespace). Returns false
 * on invalid input or if the result does not fit in cap-1 bytes; out is
 * NUL-terminated and *out_len gets the decoded length. */
bool auth_base64_decode(const char *in, size_t len, char *out, size_t cap, size_t *out_len);

/* --- public paths (SPEC §5.3) ---------------------------------------------- */

/* True if path matches an allowlist entry. The path is normalised first
 * ("//", ".", ".." resolved; query string must not be included). An entry
 * matches exactly, or, with a trailing '*', matches the prefix before the '*'
 * followed by nothing or by "/..." ("/api/v1/metrics*" matches
 * "/api/v1/metrics" and "/api/v1/metrics/memory" but not
 * "/api/v1/metricsX"; a prefix that itself ends in '/' matches everything
 * under it; "*" alone matches every path). "/api/v1/logs" and everything
 * under it never match. */
bool auth_allowlist_match(const struct config_list *allowlist, const char *path);

/* Normalises a URL path into out (like http_path_normalize, kept here so
 * this module does not depend on http/). Returns false if it does not fit. */
bool auth_path_normalize(const char *path, char *out, size_t cap);

/* --- the instance ----------------------------------------------------------- */

struct auth;

/* Test and tool knobs; zero/NULL fields take the defaults. */
struct auth_options {
    int64_t (*now_us)(void);    /* wall clock (expiry, created_at); default time_now_us */
    int64_t (*mono_ms)(void);   /* monotonic clock (cache TTL, rate limit); default time_mono_ms */
    int pbkdf2_iterations;      /* default AUTH_PBKDF2_ITERATIONS; tests may lower it */
    int64_t last_used_flush_ms; /* background persist interval, default 5000 */
    int64_t cache_ttl_ms;       /* overrides cfg->cache_ttl when > 0 (tests) */
    FILE *bootstrap_out;        /* where a generated bootstrap token is printed; default stderr */
    bool no_background;         /* do not start the background thread (CLI, tests) */
};

/* Opens (creating if needed, with its parent directories) the token store at
 * cfg->db_path, file mode 0600, and runs the bootstrap (SPEC §5.8) when
 * cfg->enabled:
 *  - no token and cfg->bootstrap_token set (>= 32 chars, else RC_INVALID):
 *    token "admin" with every permission and that value (PBKDF2 verifier);
 *  - no token and none configured: a generated token "admin" is created and
 *    printed once to stderr (never to the log), with how to use it;
 *  - tokens exist, cfg->force_bootstrap and bootstrap_token: token
 *    "arc-recovery" (admin) with that value is added (or reset), with a
 *    warning in the log; existing tokens are kept.
 * Starts one background thread ("arc-auth") that persists last_used_at in
 * batches and notices changes made by other processes (`arc token revoke`)
 * to invalidate the cache. The cfg is copied. On success *out is owned by
 * the caller (auth_close). On failure returns RC_IO / RC_DB / RC_INVALID with
 * eb set and *out untouched. */
int auth_open(const struct config_auth *cfg, struct auth **out, struct errbuf *eb) MUST_CHECK;
/* Same with options (opts may be NULL). */
int auth_open_opts(const struct config_auth *cfg, const struct auth_options *opts,
                   struct auth **out, struct errbuf *eb) MUST_CHECK;

/* Stops the background thread, persists pending last_used_at values, closes
 * the store and frees everything; sets *a to NULL. Accepts NULL. */
void auth_close(struct auth **a);

/* auth.enabled of the configuration given to auth_open. */
bool auth_is_enabled(const struct auth *a);

/* --- verification ----------------------------------------------------------- */

/* Who a verified token belongs to. */
struct auth_principal {
    int64_t id;
    char name[AUTH_NAME_MAX_BYTES + 1];
    unsigned perms;
    bool has_expiry;
    int64_t expires_at_us;
};

/* Verifies token and checks that it grants `needed` (AUTH_PERM_* bit, 0 =
 * any valid token). Uses the cache (a hit still rejects a token whose
 * expires_at has passed); on a miss looks the token up by its lookup key and
 * compares the verifier in constant time. Records the use for last_used_at
 * (persisted later by the background thread, never here).
 * Returns RC_OK (out filled when non-NULL), RC_UNAUTH (unknown, disabled,
 * expired, empty), RC_DENIED (valid but lacks the permission; out filled),
 * or RC_DB when the store cannot be read. */
int auth_check(struct auth *a, const char *token, unsigned needed,
               struct auth_principal *out) MUST_CHECK;

/* Outcome of auth_authorize. */
struct auth_decision {
    int status;         /* 0 = allowed; else 401, 403 or 500 */
    bool needs_store;   /* cache_only and not in the cache: nothing decided */
    char message[96];   /* error text for the envelope (status != 0) */
    bool is_public;     /* allowed because the path is on the allowlist */
    bool authenticated; /* principal is valid */
    enum auth_cred_source source;
    struct auth_principal principal;
};

/* Decides a request for path (already normalised by http, normalised again
 * here anyway) needing `needed` (0 for routes marked public but not on the
 * allowlist: any valid token), with the presented credentials:
 *   allowlist match (never /api/v1/logs) -> allowed, public;
 *   auth disabled (or a == NULL)         -> allowed;
 *   nothing presented                    -> 401 "Authentication required";
 *   invalid/expired/disabled token       -> 401 "Invalid or expired token";
 *   lacking permission                   -> 403 "Permission denied: <perm> required";
 *   store failure                        -> 500.
 * The first token presented in the URL (`p`) logs a one-time deprecation
 * warning (naming the token only, never its value). Counts
 * arc_auth_requests_total / arc_auth_failures_total. */
void auth_authorize(struct auth *a, const char *path, unsigned needed,
                    const struct auth_creds *creds, struct auth_decision *out);
/* Same, but never reads the store (for an event-loop thread): a token that
 * is not in the verification cache leaves out->needs_store set and nothing
 * else decided or counted; then call auth_authorize on a worker. */
void auth_authorize_cached(struct auth *a, const char *path, unsigned needed,
                           const struct auth_creds *creds, struct auth_decision *out);

/* Logs the one-time deprecation warning for a token taken from the URL
 * (AUTH_SRC_QUERY); token_name may be NULL for an invalid token. Later calls
 * do nothing. auth_authorize calls it; handlers that extract tokens
 * themselves (verify) call it too. */
void auth_note_url_token(struct auth *a, const char *token_name);

/* True if path is public under this instance's allowlist. */
bool auth_path_is_public(const struct auth *a, const char *path);

/* --- tokens ----------------------------------------------------------------- */

/* Token metadata ("TokenInfo", SPEC §5.5): never the secret or its hash. */
struct auth_token_info {
    int64_t id;
    char *name;        /* owned */
    char *description; /* owned; "" when none */
    unsigned perms;
    int64_t created_at_us;
    bool has_last_used;
    int64_t last_used_at_us;
    bool has_expiry;
    int64_t expires_at_us;
    bool enabled;
};

/* Frees the strings of t (not t itself) and zeroes it. Accepts NULL. */
void auth_token_info_cleanup(struct auth_token_info *t);
/* Frees an array returned by auth_token_list and sets *list to NULL. */
void auth_token_list_free(struct auth_token_info **list, size_t n);

/* Writes the TokenInfo members (id, name, description, permissions,
 * created_at, last_used_at, expires_at, enabled) into the object currently
 * open in w, so a caller can either nest them (after jsonw_key + obj_begin)
 * or flatten them into the response object. */
void auth_token_info_write_fields(struct jsonw *w, const struct auth_token_info *t);
/* Writes a complete TokenInfo object (for arrays or after jsonw_key). */
void auth_token_info_write(struct jsonw *w, const struct auth_token_info *t);

/* Input of create and update. For update, every set_* flag false / NULL
 * string means "unchanged" (PATCH semantics). */
struct auth_token_spec {
    const char *name;        /* create: required; update: NULL = unchanged */
    const char *description; /* NULL = unchanged ("" on create) */
    bool set_perms;          /* create: false = AUTH_PERM_DEFAULT */
    unsigned perms;
    bool set_expiry; /* create: false = never expires */
    bool has_expiry; /* with set_expiry: false = clear the expiry */
    int64_t expires_at_us;
    bool set_enabled; /* update only */
    bool enabled;
};

/* Builds a spec from a JSON request body (SPEC §5.5 field rules): name,
 * description (string or null), permissions (array or comma string),
 * expires_in (duration string, relative to now_us) or expires_at (RFC 3339,
 * null = never), both -> error; `enabled` (boolean) is accepted for update.
 * Unknown members are ignored. String pointers in *out point into doc.
 * Returns RC_INVALID with the message for the 400 response. With
 * for_create, a missing name is an error ("name is required"); without it,
 * a body that changes nothing is an error ("No fields to update"). */
int auth_spec_from_json(const struct json_value *doc, bool for_create, int64_t now_us,
                        struct auth_token_spec *out, struct errbuf *eb) MUST_CHECK;

/* Creates a token with a freshly generated secret. *out_secret (43 chars,
 * owned by the caller, xfree) is the only time the value exists outside the
 * caller's memory; out_info (may be NULL) gets the stored metadata.
 * RC_INVALID (name/description), RC_EXISTS (duplicate name), RC_DB. */
int auth_token_create(struct auth *a, const struct auth_token_spec *spec, char **out_secret,
                      struct auth_token_info *out_info, struct errbuf *eb) MUST_CHECK;

/* All tokens ordered by id. *out is owned by the caller
 * (auth_token_list_free); n may be 0 with *out NULL. */
int auth_token_list(struct auth *a, struct auth_token_info **out, size_t *n,
                    struct errbuf *eb) MUST_CHECK;

/* One token by id or by exact name. RC_NOT_FOUND if absent. */
int auth_token_get(struct auth *a, int64_t id, struct auth_token_info *out,
                   struct errbuf *eb) MUST_CHECK;
int auth_token_get_by_name(struct auth *a, const char *name, struct auth_token_info *out,
                           struct errbuf *eb) MUST_CHECK;

/* Applies the set fields of spec to token id (out_info may be NULL).
 * RC_NOT_FOUND, RC_INVALID, RC_EXISTS (name taken), RC_DB. The cache is
 * invalidated before returning. */
int auth_token_update(struct auth *a, int64_t id, const struct auth_token_spec *spec,
                      struct auth_token_info *out_info, struct errbuf *eb) MUST_CHECK;

/* Deletes token id. RC_NOT_FOUND if absent. Invalidates the cache. */
int auth_token_delete(struct auth *a, int64_t id, struct errbuf *eb) MUST_CHECK;

/* Gives token id a new generated secret (*out_secret, caller frees); the old
 * value stops working before this returns (cache invalidated). */
int auth_token_rotate(struct auth *a, int64_t id, char **out_secret,
                      struct auth_token_info *out_info, struct errbuf *eb) MUST_CHECK;

/* Sets enabled=false on token id. Invalidates the cache. */
int auth_token_revoke(struct auth *a, int64_t id, struct errbuf *eb) MUST_CHECK;

/* Token-creation rate limit (SPEC §5.5): records one attempt for client_addr
 * and returns false if it already made 10 attempts within the last 60 s.
 * In memory only; bounded table (oldest clients forgotten). */
bool auth_create_rate_ok(struct auth *a, const char *client_addr);
#define AUTH_CREATE_RATE_PER_MIN 10

/* Persists pending last_used_at values now (the background thread does this
 * every few seconds). For shutdown paths and tests. */
void auth_flush_last_used(struct auth *a);

/* --- cache (SPEC §5.6) ------------------------------------------------------- */

struct auth_cache_stats {
    uint64_t cache_size;
    uint64_t max_cache_size;
    int64_t cache_ttl_seconds;
    double utilization_percent;
    uint64_t total_requests;
    uint64_t cache_hits;
    uint64_t cache_misses;
    uint64_t cache_evictions;
    double hit_rate_percent;
};

void auth_cache_get_stats(struct auth *a, struct auth_cache_stats *out);
/* Writes the S members of SPEC §5.6 into the object currently open in w. */
void auth_cache_stats_write_fields(struct jsonw *w, const struct auth_cache_stats *s);
/* Drops every cached verification. */
void auth_cache_invalidate(struct auth *a);

/* --- command line (auth_cli.c) ----------------------------------------------- */

/* `arc token <action> ...` on the store of cfg->auth (see auth_cli.c for the
 * syntax). argv[0] is the word "token"; global options (--config, --set,
 * --host, --port, --log-level and their values) are skipped if present.
 * Prints a created token once to stdout (alone on its line). Returns the
 * process exit status: 0 ok, 1 failure, 2 usage error. */
int auth_cli_main(int argc, char **argv, const struct config *cfg);

#endif
